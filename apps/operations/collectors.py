"""Where collector streams report their state, read by /health.

Each stream keeps a JSON document in the Redis hash ``kirby:streams`` under
its name (``exchange/stream``): running, last message time, lag, reconnects.
"""

import json

from lib.redis import client

STREAMS_KEY = "kirby:streams"


def report_stream(name, status):
    client().hset(STREAMS_KEY, name, json.dumps(status, default=str))


def stream_statuses():
    """{stream name: status document}, empty when no collector has reported."""
    raw = client().hgetall(STREAMS_KEY)
    return {key.decode(): json.loads(value) for key, value in sorted(raw.items())}
