"""Interrupted jobs: cancelled through the API, or cut short by a killed worker and resumed elsewhere."""

import signal
import threading
import time

import pytest
from django.db import connection

from apps.backfill.jobs import create_job
from apps.backfill.models import BackfillJob
from apps.backfill.runner import run_job
from apps.collectors.lease import holder
from tests.backfill.conftest import FROZEN, MINUTE, START, at, stored, truth
from tests.collectors.harness import processes_running, simulator_running, wait_for

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

END = START - START % MINUTE - 60 * MINUTE
SLOW_BUDGET = {"KIRBY_HYPERLIQUID_REST_WEIGHT_PER_MINUTE": "2400", "KIRBY_REST_BURST_SECONDS": "0"}  # 2 pages/s


def test_a_cancelled_job_stops_after_its_current_page(world_committed, exchange, settings, admin_api):
    client = admin_api
    world = world_committed
    exchange(page_limit=20)
    settings.KIRBY_REST_WEIGHT_PER_MINUTE = {"hyperliquid": 2400}
    settings.KIRBY_REST_BURST_SECONDS = 0
    job = create_job("candles", starlisting_id=world.btc_1m.id, start=at(END - 400 * MINUTE), end=at(END),
                     source="api", queue=False)  # fmt: skip

    def run():
        try:
            run_job(job.id)
        finally:
            connection.close()

    runner = threading.Thread(target=run)
    runner.start()
    wait_for(lambda: BackfillJob.objects.get(id=job.id).pages >= 2, 15, "two pages stored")
    response = client.delete(f"/backfills/{job.id}")
    runner.join(15)

    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert not runner.is_alive()
    job.refresh_from_db()
    assert job.status == "cancelled" and job.checkpoint < job.end_time and 0 < job.progress < 1
    assert stored(world.btc_1m) == truth("BTC", "1m", END - 400 * MINUTE, int(job.checkpoint.timestamp() * 1000))
    assert client.delete(f"/backfills/{job.id}").status_code == 409


@pytest.fixture
def frozen_exchange():
    with simulator_running(**{**FROZEN, "page_limit": 20}) as handle:
        yield handle


@pytest.fixture
def processes(frozen_exchange, tmp_path):
    env = {**SLOW_BUDGET, "KIRBY_BACKFILL_LEASE_SECONDS": "2", "KIRBY_BACKFILL_SUPERVISE_SECONDS": "1"}
    with processes_running(frozen_exchange, tmp_path, **env) as running:
        yield running


def test_a_job_cut_short_by_a_killed_worker_resumes_from_its_checkpoint_without_duplicates(world_committed, processes):
    world = world_committed
    first = processes.worker("w1", queues="backfill")
    job = create_job("candles", starlisting_id=world.btc_1m.id, start=at(END - 400 * MINUTE), end=at(END),
                     source="api")  # fmt: skip
    wait_for(lambda: BackfillJob.objects.get(id=job.id).pages >= 4, 30, "a few pages stored", 0.05)

    first.send_signal(signal.SIGKILL)
    first.wait()
    job.refresh_from_db()
    assert job.status == "running" and 0 < job.progress < 1
    killed_at = time.monotonic()
    processes.worker("w2", queues="backfill,default")
    processes.beat()
    wait_for(lambda: BackfillJob.objects.get(id=job.id).status == "succeeded", 60, "the job to finish elsewhere")

    job.refresh_from_db()
    expected = truth("BTC", "1m", END - 400 * MINUTE, END)
    assert stored(world.btc_1m) == expected
    assert job.attempts == 2 and job.rows_written == len(expected)
    assert holder(f"backfill/{job.id}") is None
    assert time.monotonic() - killed_at < 30, processes.logs()


def test_a_page_slower_than_the_lease_keeps_the_job_to_its_runner(world, exchange, settings):
    # Supervision starts a running job elsewhere once its lease lapses: a slow page (a long write, a slow
    # exchange, here a slow progress callback) must not let it lapse while the runner is alive.
    exchange(page_limit=20)
    settings.KIRBY_BACKFILL_LEASE_SECONDS = 0.6
    job = create_job("candles", starlisting_id=world.btc_1m.id, start=at(END - 60 * MINUTE), end=at(END),
                     source="api", queue=False)  # fmt: skip
    holders_seen = []

    def slow_progress(job):
        if job.pages == 1:
            deadline = time.monotonic() + 2.0  # over three lease terms
            while time.monotonic() < deadline:
                holders_seen.append(holder(f"backfill/{job.id}"))
                time.sleep(0.1)

    finished = run_job(job.id, on_page=slow_progress)

    assert finished.status == "succeeded" and finished.attempts == 1
    assert holders_seen and None not in holders_seen
    assert stored(world.btc_1m) == truth("BTC", "1m", END - 60 * MINUTE, END)
