"""Stream status documents in Redis, read by /health (and later the dashboard).

Each stream keeps one JSON document in the hash ``kirby:streams`` under its
name, rewritten every few seconds by the stream itself (``heartbeat_at``).
A document whose heartbeat is older than ``STALE_SECONDS`` belongs to a
stream that is no longer running (its worker died).
"""

import json
import time

from lib.redis import client

STREAMS_KEY = "kirby:streams"
STALE_SECONDS = 30


def report_stream(name, status):
    client().hset(STREAMS_KEY, name, json.dumps(status, default=str))


def stream_statuses(now=None):
    """{stream name: status}, with ``running`` false and ``stale`` true for lapsed heartbeats."""
    now = now or time.time()
    statuses = {}
    for key, value in sorted(client().hgetall(STREAMS_KEY).items()):
        status = json.loads(value)
        heartbeat = status.get("heartbeat_at")
        stale = heartbeat is not None and now - heartbeat > STALE_SECONDS
        if stale:
            status.update(running=False, connected=False, stale=True)
        last = status.get("last_message_at")
        if last is not None and status.get("running", True):
            status["lag_seconds"] = round(max(0.0, now - last), 3)
        statuses[key.decode()] = status
    return statuses
