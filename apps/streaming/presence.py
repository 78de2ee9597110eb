"""How many /ws connections are open, in this process and in all web processes together.

Each process keeps its own count (also the ``kirby_ws_connections`` gauge)
and reports it to the Redis hash ``kirby:ws:processes`` under its
``host:pid``, with the time, when it changes and every ``REPORT_SECONDS``
while connections are open. A report older than ``STALE_SECONDS`` belongs to
a process that died: readers ignore and remove it. Reports go through a
worker thread, never blocking the event loop.
"""

import asyncio
import json
import logging
import os
import socket
import time

from lib.metrics import WS_CONNECTIONS
from lib.redis import client

log = logging.getLogger(__name__)

KEY = "kirby:ws:processes"
REPORT_SECONDS = 15.0
STALE_SECONDS = 3 * REPORT_SECONDS
PROCESS = f"{socket.gethostname()}:{os.getpid()}"

_state = {"count": 0, "refresher": None}


async def opened():
    _state["count"] += 1
    WS_CONNECTIONS.inc()
    refresher = _state["refresher"]
    if refresher is None or refresher.done() or refresher.get_loop() is not asyncio.get_running_loop():
        _state["refresher"] = asyncio.ensure_future(_refresh())
    await _report()


async def closed():
    _state["count"] -= 1
    WS_CONNECTIONS.dec()
    await _report()


async def _report():
    count = _state["count"]
    try:
        await asyncio.to_thread(_write, count, time.time())
    except Exception as error:  # Redis away: the count is only for the dashboard
        log.debug("cannot report /ws connections: %s", error)


def _write(count, now):
    if count:
        client().hset(KEY, PROCESS, json.dumps({"connections": count, "at": now}))
    else:
        client().hdel(KEY, PROCESS)


async def _refresh():
    while _state["count"] > 0:
        await asyncio.sleep(REPORT_SECONDS)
        if _state["count"] > 0:
            await _report()


def processes(now=None):
    """{process: connections} of web processes with a fresh report (stale ones are removed)."""
    now = time.time() if now is None else now
    redis = client()
    fresh, stale = {}, []
    for name, raw in redis.hgetall(KEY).items():
        report = json.loads(raw)
        if now - report["at"] > STALE_SECONDS:
            stale.append(name)
        else:
            fresh[name.decode()] = report["connections"]
    if stale:
        redis.hdel(KEY, *stale)
    return fresh


def connections_total(now=None):
    return sum(processes(now).values())
