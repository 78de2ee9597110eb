"""A failing run is retried with exponential backoff, then the job fails with its last error."""

import json
import time
from datetime import datetime

import pytest

from apps.backfill.jobs import create_job
from apps.backfill.tasks import run_backfill
from lib.redis import client as redis_client
from tests.backfill.conftest import MINUTE, START, at

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def queued_etas():
    """Seconds from now until each delayed message waiting on the backfill queue may run."""
    etas = []
    for raw in redis_client().lrange("backfill", 0, -1):
        eta = json.loads(raw)["headers"]["eta"]
        if eta is not None:  # the job's first message, sent when it was created, has none
            etas.append(datetime.fromisoformat(eta).timestamp() - time.time())
    return etas


def test_a_failing_job_is_retried_with_growing_delays_and_then_fails(world_committed, settings):
    world = world_committed
    settings.KIRBY_HYPERLIQUID_REST_URL = "http://127.0.0.1:1/info"  # nothing listens there
    settings.KIRBY_BACKFILL_MAX_ATTEMPTS = 3
    settings.KIRBY_BACKFILL_RETRY_SECONDS = 100
    redis_client().delete("backfill")
    job = create_job("candles", starlisting_id=world.btc_1m.id, start=at(START - 60 * MINUTE), end=at(START),
                     source="api")  # fmt: skip

    try:
        run_backfill(job.id)
        job.refresh_from_db()
        assert (job.status, job.attempts) == ("queued", 1) and "Connection refused" in job.last_error
        run_backfill(job.id)
        [first, second] = sorted(queued_etas())
        assert 95 < first <= 100 and 195 < second <= 200
        run_backfill(job.id)
    finally:
        redis_client().delete("backfill")

    job.refresh_from_db()
    assert (job.status, job.attempts) == ("failed", 3) and job.finished_at is not None
    assert "Connection refused" in job.last_error
