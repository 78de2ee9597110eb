"""One event loop per process, in a thread of its own, for group messages sent from synchronous code.

``async_to_sync`` starts a thread and an event loop for each call, and the
channel layer opens its Redis connections per event loop: every write batch
paid for a thread, a loop and a Redis connection it closed again (about
4 ms of the collector's CPU per batch, in a trade flood a fifth of storing
them). Here the loop and its connections live as long as the process; a
forked child (a Celery or gunicorn worker) starts its own on first use.
"""

import asyncio
import os
import threading

# A send that takes longer than this is given up (and logged by the caller): Redis is away or stuck, and
# the writer's thread must not wait on it forever.
SEND_SECONDS = 30.0

_lock = threading.Lock()
_state = {"pid": None, "loop": None}


def _loop():
    with _lock:
        if _state["pid"] != os.getpid() or _state["loop"] is None or _state["loop"].is_closed():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="kirby-publisher", daemon=True).start()
            _state.update(pid=os.getpid(), loop=loop)
        return _state["loop"]


def run(coroutine):
    """Run ``coroutine`` on the process's publisher loop and return its result (its exception raised here)."""
    future = asyncio.run_coroutine_threadsafe(coroutine, _loop())
    try:
        return future.result(SEND_SECONDS)
    except TimeoutError:
        future.cancel()
        raise
