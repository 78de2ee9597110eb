"""Long jobs have queues of their own: supervision runs on time while the jobs queue is full.

The worker and jobs processes are started with the commands of the Procfile,
so the test holds the Procfile (and the routes in settings) to the promise.
"""

import os
import shlex
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from django.conf import settings

from apps.marketdata.models import ExportJob
from apps.marketdata.tasks import run_export_job
from apps.marketdata.writer import write_candles
from apps.operations.samples import SAMPLES_KEY
from apps.operations.tasks import sample_status
from kirby.celery import app
from lib.redis import client as redis_client
from tests.conftest import candle, utc
from tests.processes import database_url
from tests.waiting import wait_for

EXPORT_JOBS = 300
LONG_WORK = ("apps.marketdata.tasks.run_export_job", "apps.backfill.tasks.run_backfill")


def procfile_commands():
    lines = (settings.BASE_DIR / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line.strip() and not line.startswith("#"))


def queues_of(command):
    argv = shlex.split(command)
    return set(argv[argv.index("--queues") + 1].split(","))


def test_long_jobs_are_routed_away_from_the_queue_the_supervisor_reads():
    supervisor_queues = queues_of(procfile_commands()["worker"])
    router = app.amqp.router
    for name in LONG_WORK:
        queue = router.route({}, name)["queue"].name
        assert queue not in supervisor_queues, f"{name} would wait with supervision in {queue!r}"
        assert queue in queues_of(procfile_commands()["jobs"])
    for entry in settings.CELERY_BEAT_SCHEDULE.values():
        if entry["task"].rsplit(".", 1)[1].startswith(("supervise_", "sample_")):
            assert router.route({}, entry["task"])["queue"].name in supervisor_queues


def test_a_job_outlives_no_visibility_timeout_so_redis_never_hands_it_to_a_second_worker():
    app.loader.import_default_modules()
    visibility = app.conf.broker_transport_options["visibility_timeout"]
    for name, task in app.tasks.items():
        if name.startswith("apps.") and task.acks_late:  # an acknowledged task is never redelivered
            assert task.time_limit < visibility, f"{name} may run {task.time_limit} s, redelivered after {visibility} s"


def start(command, env):
    argv = shlex.split(command)
    argv = [sys.executable, "-m", "celery", *argv[1:], "--without-gossip", "--without-mingle"]
    argv = [arg.replace("%h", f"stalls-{os.getpid()}") for arg in argv]
    argv[argv.index("INFO")] = "WARNING"
    return subprocess.Popen(argv, cwd=settings.BASE_DIR, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@pytest.fixture
def procfile_workers(world_committed, tmp_path):
    redis = redis_client()
    redis.delete("default", "export", "backfill", "maintenance", SAMPLES_KEY, "kirby:samples:lock")
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "KIRBY_EXPORT_DIR": str(tmp_path),
        "KIRBY_STATUS_SAMPLE_SECONDS": "1",
    }
    commands = procfile_commands()
    processes = [start(commands["worker"], env), start(commands["jobs"], env)]
    try:
        yield world_committed
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        redis.delete("default", "export", "backfill", "maintenance")


def samples_taken():
    return redis_client().zcard(SAMPLES_KEY)


def test_supervision_runs_on_time_while_the_jobs_queue_is_full(procfile_workers):
    world = procfile_workers
    start_time = utc(2024, 1, 1)
    write_candles([candle(world.btc_1m, start_time + timedelta(minutes=i)) for i in range(20_000)], publish=False)
    sample_status.delay()
    wait_for(samples_taken, 60, "the worker process to take a first sample")

    # Enough work that the sample would wait far past its 10 s behind it, were it in the same queue (it did,
    # with export jobs routed to `default`): 40 jobs were not on an idle machine, each export taking ~0.2 s.
    jobs = ExportJob.objects.bulk_create(
        ExportJob(export_type="candles", exchange="hyperliquid", coin="BTC", quote="USD", market_type="perps",
                  interval="1m", format="both")
        for _ in range(EXPORT_JOBS)
    )  # fmt: skip
    for job in jobs:
        run_export_job.delay(str(job.id))
    wait_for(lambda: ExportJob.objects.filter(status=ExportJob.RUNNING).exists(), 60, "the jobs process to start")

    time.sleep(1.1)  # the sampling lock of the first sample lapses
    before = samples_taken()
    sample_status.delay()
    wait_for(lambda: samples_taken() > before, 10, "a sample while the export queue is full")

    waiting = ExportJob.objects.filter(status=ExportJob.QUEUED).count()
    assert waiting > 0, "the export queue emptied before the sample: the test proved nothing"
    assert redis_client().llen("export") > 0
