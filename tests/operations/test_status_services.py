"""Workers, queues, beat, WebSocket connections, backfill, database and errors in the status document."""

import json
import logging
import time

import pytest
from prometheus_client import REGISTRY

from apps.backfill.models import BackfillJob, DataType
from apps.operations import samples
from apps.operations.status import build_status
from apps.operations.workers import BEAT_KEY, WORKER_PREFIX
from apps.streaming import presence
from lib.metrics import count_ingested
from lib.redis import client as redis_client
from tests.conftest import utc

pytestmark = pytest.mark.django_db


def worker(name, queues):
    now = time.time()
    document = {"name": name, "pid": 1, "queues": queues, "started_at": now - 60, "heartbeat_at": now}
    redis_client().set(WORKER_PREFIX + name, json.dumps(document), ex=30)


def test_without_workers_celery_is_red():
    celery = build_status()["celery"]

    assert (celery["state"], celery["reason"]) == ("red", "no Celery worker is running")
    assert celery["queues"] == {"default": 0, "collectors": 0, "backfill": 0, "export": 0, "maintenance": 0}


def test_workers_consuming_every_queue_are_green_and_a_backlog_is_amber(settings):
    settings.KIRBY_STATUS_QUEUE_BACKLOG = 2
    worker("collectors@host", ["collectors"])
    worker("worker@host", ["backfill", "default"])

    assert build_status()["celery"]["state"] == "green"

    redis_client().rpush("default", "t1", "t2", "t3")
    try:
        celery = build_status()["celery"]
    finally:
        redis_client().delete("default")
    assert celery["queues"]["default"] == 3
    assert (celery["state"], celery["reason"]) == ("amber", "tasks waiting: default (3)")
    assert sorted(w["name"] for w in celery["workers"]) == ["collectors@host", "worker@host"]


def test_workers_without_the_collectors_queue_are_red():
    worker("worker@host", ["default"])

    assert build_status()["celery"]["reason"] == "no worker consumes the collectors queue"


def test_beat_is_red_until_it_runs_and_again_once_it_stops(settings):
    settings.KIRBY_STATUS_BEAT_STALE_SECONDS = 60
    assert build_status()["beat"]["state"] == "red"

    now = time.time()
    redis_client().set(BEAT_KEY, json.dumps({"at": now - 5, "task": "apps.collectors.tasks.supervise_streams"}))
    beat = build_status(now)["beat"]
    assert (beat["state"], beat["reason"]) == ("green", "last run 5 s ago")
    assert beat["last_task"] == "apps.collectors.tasks.supervise_streams"

    beat = build_status(now + 120)["beat"]
    assert (beat["state"], beat["reason"]) == ("red", "beat has not run for 2 min")


def test_websocket_connections_are_summed_over_live_web_processes_only():
    now = time.time()
    redis = redis_client()
    redis.hset(presence.KEY, "web-a:1", json.dumps({"connections": 3, "at": now - 1}))
    redis.hset(presence.KEY, "web-b:2", json.dumps({"connections": 4, "at": now - 2}))
    redis.hset(presence.KEY, "dead:3", json.dumps({"connections": 50, "at": now - presence.STALE_SECONDS - 1}))

    websocket = build_status(now)["websocket"]

    assert (websocket["connections"], websocket["processes"]) == (7, 2)
    assert not redis.hexists(presence.KEY, "dead:3")


def test_errors_logged_by_any_process_are_listed_newest_first_and_make_the_section_amber():
    logging.getLogger("apps.collectors.stream").error("first failure")
    try:
        raise ValueError("bad frame")
    except ValueError:
        logging.getLogger("apps.marketdata.writer").exception("storing failed")

    errors = build_status()["errors"]

    assert [(e["logger"], e["message"]) for e in errors["recent"]] == [
        ("apps.marketdata.writer", "storing failed: ValueError: bad frame"),
        ("apps.collectors.stream", "first failure"),
    ]
    assert (errors["state"], errors["reason"]) == ("amber", "2 error(s) in the last hour")


def test_the_database_size_and_its_growth_since_the_oldest_sample_of_the_day():
    now = time.time()
    redis = redis_client()
    size = samples.database_size()
    for age, db_bytes in ((90_000, 1), (80_000, size - 5000), (60, size - 100)):  # the first is older than a day
        sample = {"t": now - age, "ingested": 0, "ws_connections": 0, "db_bytes": db_bytes}
        redis.zadd(samples.SAMPLES_KEY, {json.dumps(sample): now - age})

    database = build_status(now)["database"]

    assert database["size_bytes"] == size
    assert database["growth_bytes"] == 5000
    assert database["growth_window_seconds"] == 80_000


def test_the_plots_get_the_ingest_rate_and_connections_of_the_last_hour():
    now = time.time()
    redis = redis_client()
    for age, ingested, connections in ((4000, 0, 9), (120, 1000, 1), (60, 4000, 2)):
        sample = {"t": now - age, "ingested": ingested, "ws_connections": connections, "db_bytes": 1}
        redis.zadd(samples.SAMPLES_KEY, {json.dumps(sample): now - age})
    redis.set("kirby:samples:lock", "1", ex=60)  # no new sample in this test

    history = build_status(now)["history"]

    assert history["ingest_rate"] == [[pytest.approx(now - 60), 50.0]]
    assert [value for _, value in history["ws_connections"]] == [1, 2]


def test_a_sample_is_taken_once_per_period_by_whoever_comes_first():
    count_ingested(250)

    first = samples.take_sample()
    second = samples.take_sample()

    assert first["ingested"] == 250 and first["db_bytes"] > 0
    assert second is None
    assert len(samples.samples_since(0)) == 1


def job(world, status, **fields):
    return BackfillJob.objects.create(
        data_type=DataType.CANDLES, starlisting=world.btc_1m, trading_pair=world.btc_pair, status=status,
        start_time=utc(2026, 11, 1), end_time=utc(2026, 11, 2), **fields,
    )  # fmt: skip


def test_running_backfill_jobs_are_listed_with_progress_and_failed_ones_make_it_amber(world):
    assert build_status()["backfill"]["state"] == "green"
    running = job(world, BackfillJob.Status.RUNNING, checkpoint=utc(2026, 11, 1, 12))
    job(world, BackfillJob.Status.FAILED, last_error="HTTP 500")
    job(world, BackfillJob.Status.FAILED, last_error="HTTP 500")

    backfill = build_status()["backfill"]

    assert [(j["id"], j["progress"], j["coin"]) for j in backfill["running"]] == [(running.id, 0.5, "BTC")]
    assert backfill["jobs"]["running"] == 1 and backfill["jobs"]["failed"] == 2 and backfill["jobs"]["queued"] == 0
    assert (backfill["state"], backfill["reason"]) == ("amber", "2 failed job(s)")
    assert REGISTRY.get_sample_value("kirby_backfill_jobs", {"state": "failed"}) == 2
    assert REGISTRY.get_sample_value("kirby_backfill_jobs", {"state": "succeeded"}) == 0
    assert REGISTRY.get_sample_value("kirby_gaps_open") == 0


def test_a_section_that_cannot_be_read_is_red_and_the_others_are_still_there(monkeypatch):
    # Only the backfill section's query fails (as a broken table would); the builder must not take the rest down.
    monkeypatch.setattr("apps.backfill.reporting.running_jobs", lambda: 1 / 0)

    document = build_status()

    assert document["backfill"]["state"] == "red"
    assert document["backfill"]["error"] == "ZeroDivisionError: division by zero"
    assert document["database"]["size_bytes"] > 0
    assert "backfill: cannot be read: division by zero" in document["reasons"]
