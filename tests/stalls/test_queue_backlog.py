"""A queue that keeps growing turns the Celery section of the status amber, then red, and says which and how fast."""

import json
import time

import pytest

from apps.operations.status import build_status
from apps.operations.status.services import LENGTHS_KEY
from apps.operations.workers import WORKER_PREFIX
from lib.redis import client as redis_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def workers_up():
    redis = redis_client()
    redis.delete(LENGTHS_KEY, "default", "export")  # readings and tasks left by earlier tests
    now = time.time()
    for name, queues in (("collectors@h", ["collectors"]), ("worker@h", ["default"]), ("jobs@h", ["export"])):
        document = {"name": name, "pid": 1, "queues": queues, "started_at": now - 60, "heartbeat_at": now}
        redis.set(WORKER_PREFIX + name, json.dumps(document), ex=30)
    yield redis
    redis.delete("default", "export", LENGTHS_KEY)


def test_a_backlog_that_keeps_growing_is_red_with_queue_length_and_growth(settings, workers_up):
    settings.KIRBY_STATUS_QUEUE_BACKLOG = 10
    settings.KIRBY_STATUS_QUEUE_GROWTH = 5
    settings.KIRBY_STATUS_QUEUE_GROWTH_SECONDS = 300
    now = time.time()
    assert build_status(now)["celery"]["state"] == "green"

    workers_up.rpush("export", *[f"job{i}" for i in range(8)])
    celery = build_status(now + 60)["celery"]
    assert (celery["state"], celery["reason"]) == ("amber", "tasks waiting: export (8, +8 in 60 s)")

    workers_up.rpush("export", *[f"job{i}" for i in range(8, 30)])
    celery = build_status(now + 150)["celery"]
    assert (celery["state"], celery["reason"]) == ("red", "backlog growing: export (30, +30 in 2 min)")
    assert celery["queues"]["export"] == 30
    assert celery["queue_growth"]["export"] == {"tasks": 30, "seconds": 150}


def test_a_long_queue_that_is_being_drained_is_amber_not_red(settings, workers_up):
    settings.KIRBY_STATUS_QUEUE_BACKLOG = 10
    settings.KIRBY_STATUS_QUEUE_GROWTH = 5
    settings.KIRBY_STATUS_QUEUE_GROWTH_SECONDS = 300
    now = time.time()
    workers_up.rpush("default", *[f"t{i}" for i in range(40)])
    build_status(now)
    for _ in range(15):
        workers_up.lpop("default")
    celery = build_status(now + 60)["celery"]
    assert (celery["state"], celery["reason"]) == ("amber", "tasks waiting: default (25)")
    assert celery["queue_growth"]["default"]["tasks"] == -15
