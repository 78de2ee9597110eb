"""Collector streams in the status document (and in /health): one judged entry per stream.

The streams write their own documents to Redis (apps.collectors.stream_documents);
here each is judged: red when not running, disconnected or quiet for longer
than ``KIRBY_COLLECTOR_QUIET_SECONDS`` (after which the stream itself
reconnects); amber when quiet for half that, or when its last error is
recent (``RECENT_ERROR_SECONDS``: it reconnected lately).
"""

import time

from django.conf import settings

from apps.collectors.stream_documents import stream_statuses
from apps.operations.status.judge import AMBER, GREEN, RED, duration, verdict, when

RECENT_ERROR_SECONDS = 300


def judge_stream(status, now):
    quiet_after = settings.KIRBY_COLLECTOR_QUIET_SECONDS
    heartbeat = status.get("heartbeat_at")
    if status.get("stale"):
        return verdict(RED, f"not running: no heartbeat for {duration(now - heartbeat)}")
    if not status.get("running", True):
        return verdict(RED, "not running: stopped")
    if not status.get("connected"):
        error = status.get("last_error")
        return verdict(RED, f"disconnected: {error}" if error else "not connected yet")
    last = status.get("last_message_at")
    if last is None:
        since = status.get("connected_since") or now
        if now - since > quiet_after:
            return verdict(RED, f"no message since connecting {duration(now - since)} ago")
        return verdict(AMBER, "connected, waiting for the first message")
    lag = now - last
    if lag > quiet_after:
        return verdict(RED, f"stale: no message for {duration(lag)}")
    if lag > quiet_after / 2:
        return verdict(AMBER, f"quiet: no message for {duration(lag)}")
    error_at = status.get("last_error_at")
    if error_at is not None and now - error_at < RECENT_ERROR_SECONDS:
        return verdict(AMBER, f"reconnected {duration(now - error_at)} ago after: {status.get('last_error')}")
    if status.get("unsupported"):
        return verdict(AMBER, f"unsupported by the exchange: {', '.join(map(str, status['unsupported']))}")
    return verdict(GREEN, f"receiving, last message {duration(lag)} ago")


def judged_streams(now=None):
    """{stream name: its status document plus ``state`` and ``reason``}, as /health shows them."""
    now = time.time() if now is None else now
    return {name: {**status, **judge_stream(status, now)} for name, status in stream_statuses(now).items()}


TIME_FIELDS = ("last_message_at", "heartbeat_at", "connected_since", "last_error_at")


def with_iso_times(status):
    """A stream's status with its times (epoch seconds in Redis) as ISO-8601 UTC ``Z``, as the rest of the API."""
    return {**status, **{field: when(status[field]) for field in TIME_FIELDS if field in status}}


def stream_section(now):
    """The streams as a list, times as ISO-8601 UTC, for the status document."""
    absent = dict.fromkeys(TIME_FIELDS)
    return [{"name": name, **absent, **with_iso_times(status)} for name, status in judged_streams(now).items()]
