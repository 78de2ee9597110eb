"""Collector streams in the status document: each state, with its reason in words."""

import time

import pytest

from apps.collectors.stream_documents import report_stream
from apps.operations.status import build_status
from apps.operations.status.streams import judge_stream

NOW = 1_800_000_000.0


def healthy(**changes):
    status = {
        "exchange": "hyperliquid",
        "running": True,
        "connected": True,
        "connected_since": NOW - 600,
        "last_message_at": NOW - 1,
        "heartbeat_at": NOW - 1,
        "messages": 1000,
        "reconnects": 0,
        "last_error": None,
        "last_error_at": None,
        "unsupported": [],
    }
    return {**status, **changes}


def test_a_connected_stream_receiving_messages_is_green():
    assert judge_stream(healthy(), NOW) == {"state": "green", "reason": "receiving, last message 1 s ago"}


def test_a_stream_whose_worker_stopped_heartbeating_is_red_and_says_so():
    judged = judge_stream(healthy(stale=True, running=False, heartbeat_at=NOW - 45), NOW)

    assert judged == {"state": "red", "reason": "not running: no heartbeat for 45 s"}


def test_a_connected_stream_quiet_longer_than_the_quiet_limit_is_red(settings):
    settings.KIRBY_COLLECTOR_QUIET_SECONDS = 60

    judged = judge_stream(healthy(last_message_at=NOW - 180), NOW)

    assert judged == {"state": "red", "reason": "stale: no message for 3 min"}


def test_a_stream_quiet_for_half_the_limit_is_amber(settings):
    settings.KIRBY_COLLECTOR_QUIET_SECONDS = 60

    assert judge_stream(healthy(last_message_at=NOW - 40), NOW)["state"] == "amber"


def test_a_disconnected_stream_is_red_with_its_last_error():
    judged = judge_stream(healthy(connected=False, last_error="Reconnect: quiet for 61.0 s"), NOW)

    assert judged == {"state": "red", "reason": "disconnected: Reconnect: quiet for 61.0 s"}


def test_a_stream_that_reconnected_lately_is_amber_until_the_error_is_five_minutes_old():
    recent = healthy(last_error="ClientError: dropped", last_error_at=NOW - 30, reconnects=1)
    older = healthy(last_error="ClientError: dropped", last_error_at=NOW - 301, reconnects=1)

    assert judge_stream(recent, NOW) == {"state": "amber", "reason": "reconnected 30 s ago after: ClientError: dropped"}
    assert judge_stream(older, NOW)["state"] == "green"


def test_a_stopped_stream_is_red():
    assert judge_stream(healthy(running=False, connected=False), NOW)["reason"] == "not running: stopped"


@pytest.mark.django_db
def test_the_document_lists_streams_from_redis_and_a_stale_one_makes_everything_red():
    now = time.time()
    report_stream("hyperliquid/0", healthy(last_message_at=now - 1, heartbeat_at=now - 1, connected_since=now - 60))
    report_stream("hyperliquid/1", healthy(last_message_at=now - 100, heartbeat_at=now - 100))

    document = build_status(now)

    streams = {item["name"]: item for item in document["streams"]["items"]}
    assert streams["hyperliquid/0"]["state"] == "green"
    assert streams["hyperliquid/1"]["state"] == "red"
    assert streams["hyperliquid/1"]["reason"].startswith("not running: no heartbeat for")
    assert streams["hyperliquid/1"]["running"] is False
    assert streams["hyperliquid/0"]["last_message_at"].endswith("Z")
    assert document["streams"]["state"] == "red" and document["state"] == "red"
    assert any(reason.startswith("streams: hyperliquid/1: not running") for reason in document["reasons"])


@pytest.mark.django_db
def test_without_any_stream_the_streams_are_red_when_starlistings_need_collecting(world):
    document = build_status()

    assert document["streams"] == {"items": [], "state": "red", "reason": "no collector stream has reported"}


@pytest.mark.django_db
def test_health_gives_stream_times_as_iso_8601_z_like_the_rest_of_the_api(anonymous):
    now = time.time()
    report_stream("hyperliquid/0", healthy(last_message_at=now - 1, heartbeat_at=now - 1, connected_since=now - 60))

    health = anonymous.get("/health").json()

    stream = health["collectors"]["hyperliquid/0"]
    for field in ("last_message_at", "heartbeat_at", "connected_since"):
        assert isinstance(stream[field], str) and stream[field].endswith("Z"), (field, stream[field])
    assert stream["last_error_at"] is None and health["timestamp"].endswith("Z")
