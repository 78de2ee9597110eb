"""One event loop per process, in a thread of its own, that sends the group messages of written rows.

``async_to_sync`` starts a thread and an event loop for each call, and the
channel layer opens its Redis connections per event loop: every write batch
paid for a thread, a loop and a Redis connection it closed again (about
4 ms of the collector's CPU per batch, in a trade flood a fifth of storing
them). Here the loop and its connections live as long as the process; a
forked child (a Celery or gunicorn worker) starts its own on first use.

The writer does not wait for Redis: ``submit`` queues a batch's sends and
returns; one task sends the batches in the order they were submitted (so a
group's messages reach its subscribers in write order), each batch's groups
concurrently. At most MAX_WAITING batches wait; a writer submitting more
waits for room (Redis slower than the writes: the writes slow down rather
than memory growing). At exit, what is queued gets EXIT_SECONDS to go out.
"""

import asyncio
import atexit
import logging
import os
import threading

log = logging.getLogger(__name__)

MAX_WAITING = 256
EXIT_SECONDS = 5.0

_lock = threading.Lock()
# A forked child inherits these as its parent left them, without the thread that sends: it starts afresh.
_state = {"pid": None, "loop": None, "queue": None, "room": None, "idle": None, "waiting": 0}


def _started():
    with _lock:
        if _state["pid"] != os.getpid() or _state["loop"] is None:
            loop = asyncio.new_event_loop()
            queue = asyncio.Queue()
            _state.update(room=threading.BoundedSemaphore(MAX_WAITING), idle=threading.Condition(), waiting=0)
            loop.create_task(_send_in_order(queue, _state["room"], _state["idle"]))
            threading.Thread(target=loop.run_forever, name="kirby-publisher", daemon=True).start()
            _state.update(pid=os.getpid(), loop=loop, queue=queue)
        return _state["loop"], _state["queue"]


def submit(send):
    """Queue ``send`` (a function returning the coroutine that sends one batch) behind the batches before it."""
    loop, queue = _started()
    _state["room"].acquire()
    with _state["idle"]:
        _state["waiting"] += 1
    loop.call_soon_threadsafe(queue.put_nowait, send)


async def _send_in_order(queue, room, idle):
    while True:
        send = await queue.get()
        try:
            await send()
        except Exception:  # Redis away: these subscribers miss the batch; the next batch is tried as usual
            log.exception("could not send a batch of stream messages")
        finally:
            room.release()
            with idle:
                _state["waiting"] -= 1
                idle.notify_all()


def wait_sent(timeout=None):
    """Wait until every batch submitted so far has been sent (or given up); False on timeout."""
    if _state["pid"] != os.getpid():
        return True  # nothing submitted in this process
    with _state["idle"]:
        return _state["idle"].wait_for(lambda: _state["waiting"] == 0, timeout)


atexit.register(wait_sent, EXIT_SECONDS)
