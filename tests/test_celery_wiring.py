"""The Celery app is wired: a real worker, fed through Redis, runs Kirby's tasks against the database."""

import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime

import pytest
from django.conf import settings

from apps.marketdata.partitions import existing_partitions, month_start, next_month, partition_name
from apps.marketdata.tasks import create_partitions_ahead
from tests.processes import database_url
from tests.waiting import wait_for


@pytest.fixture
def worker(transactional_db, django_db_serialized_rollback):
    """A celery worker on a queue of its own, using the test database."""
    queue = f"test-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "DEBUG": "true",
        "DATABASE_URL": database_url(),
        "KIRBY_PARTITION_MONTHS_AHEAD": "24",
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "kirby",
            "worker",
            "-Q",
            queue,
            "--concurrency",
            "1",
            "--pool",
            "solo",
            "--without-gossip",
            "--without-mingle",
            "--loglevel",
            "WARNING",
        ],  # fmt: skip
        cwd=settings.BASE_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        yield queue
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_a_worker_runs_the_partition_task_sent_through_redis(worker):
    target = month_start(datetime.now(UTC))
    for _ in range(24):
        target = next_month(target)
    name = partition_name("candles", target)
    assert name not in existing_partitions("candles")

    create_partitions_ahead.apply_async(queue=worker)

    wait_for(lambda: name in existing_partitions("candles"), 30, f"partition {name}")
