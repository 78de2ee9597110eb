"""Status tests start from Redis without any status keys and leave none behind."""

import pytest

from apps.operations.status.services import PRIORITY_SUFFIXES, QUEUES
from lib.redis import client as redis_client

STATUS_KEYS = ("kirby:streams", "kirby:beat", "kirby:errors", "kirby:samples", "kirby:samples:lock",
               "kirby:ws:processes", "kirby:ingested")  # fmt: skip


def clear_status():
    """Status keys, and Celery's queues (tasks other tests queued without a worker to take them)."""
    redis = redis_client()
    redis.delete(*STATUS_KEYS)
    redis.delete(*(queue + suffix for queue in QUEUES for suffix in PRIORITY_SUFFIXES))
    workers = list(redis.scan_iter(match="kirby:workers:*"))
    if workers:
        redis.delete(*workers)


@pytest.fixture(autouse=True)
def clean_status():
    clear_status()
    yield
    clear_status()
