"""The most recent errors of every Kirby process, kept in Redis for /api/status and the dashboard.

A logging handler (configured in settings.LOGGING at level ERROR) pushes
each record onto the capped list ``kirby:errors`` (newest first, ``KEEP``
entries). It never raises and never logs: a Redis outage must not turn
every error into two.
"""

import json
import logging
import os
import socket
import threading
import time

from lib.redis import client

KEY = "kirby:errors"
KEEP = 50
_PROCESS = f"{socket.gethostname()}:{os.getpid()}"
_inside = threading.local()
_paused_until = [0.0]  # after a failure, errors are not sent for PAUSE_SECONDS (Redis is away)
PAUSE_SECONDS = 10.0


class RecentErrorsHandler(logging.Handler):
    def emit(self, record):
        if getattr(_inside, "active", False) or time.monotonic() < _paused_until[0]:
            return
        _inside.active = True
        try:
            message = record.getMessage()
            if record.exc_info and record.exc_info[1] is not None:
                error = record.exc_info[1]
                message = f"{message}: {type(error).__name__}: {error}"
            entry = {
                "at": record.created,
                "level": record.levelname,
                "logger": record.name,
                "message": message[:1000],
                "process": _PROCESS,
            }
            pipe = client().pipeline()
            pipe.lpush(KEY, json.dumps(entry, default=str))
            pipe.ltrim(KEY, 0, KEEP - 1)
            pipe.execute()
        except Exception:  # a log handler that fails must stay silent
            _paused_until[0] = time.monotonic() + PAUSE_SECONDS
        finally:
            _inside.active = False


def recent_errors(limit=20):
    """The latest ``limit`` errors, newest first: {at (Unix seconds), level, logger, message, process}."""
    return [json.loads(raw) for raw in client().lrange(KEY, 0, limit - 1)]
