"""Status tests start from Redis without any status keys and leave none behind."""

import pytest

from lib.redis import client as redis_client

STATUS_KEYS = ("kirby:streams", "kirby:beat", "kirby:errors", "kirby:samples", "kirby:samples:lock",
               "kirby:ws:processes", "kirby:ingested")  # fmt: skip


def clear_status():
    redis = redis_client()
    redis.delete(*STATUS_KEYS)
    workers = list(redis.scan_iter(match="kirby:workers:*"))
    if workers:
        redis.delete(*workers)


@pytest.fixture(autouse=True)
def clean_status():
    clear_status()
    yield
    clear_status()
