"""Celery tasks that run and supervise exchange streams.

``run_stream`` is long-running: it holds its stream's lease for as long as
it runs, so two workers never run the same stream. ``supervise_streams``
(beat) starts every stream whose lease has lapsed, and starts a fresh one
when a stream ends at the end of its lifetime. Collectors run in a
worker with ``--pool threads`` so that a warm shutdown reaches the streams,
which then flush what they buffered and release their leases.
"""

import asyncio
import logging
import threading
import time

from celery import shared_task
from celery.signals import worker_shutting_down
from django.conf import settings
from django.db import close_old_connections

from apps.collectors.batcher import Batcher
from apps.collectors.exchanges import LIVE_EXCHANGES, get_adapter
from apps.collectors.gc_tuning import tune_for_streaming
from apps.collectors.lease import Lease, is_held
from apps.collectors.plan import connections_needed
from apps.collectors.stream import Stream
from lib.tasks import dispatch_once

log = logging.getLogger(__name__)

_running = set()  # stop events of the streams running in this process

# The threads pool cannot enforce Celery's time limits, so a stream ends itself after its lifetime
# (flushing, releasing its lease); the next stream's reconnect repair reads back the hand-over.
# Celery's limits, a little later, hold where a pool does enforce them.
STREAM_LIFETIME_SECONDS = settings.KIRBY_COLLECTOR_STREAM_LIFETIME_SECONDS


@worker_shutting_down.connect
def _stop_streams(**kwargs):
    for stop in list(_running):
        stop.set()


def stream_name(exchange, index):
    return f"{exchange}/{index}"


@shared_task(
    acks_late=False,
    ignore_result=True,
    soft_time_limit=STREAM_LIFETIME_SECONDS + 60,
    time_limit=STREAM_LIFETIME_SECONDS + 120,
)
def run_stream(exchange, index):
    """Run one stream until shutdown, loss of its lease, its lifetime's end, or until its subscriptions move away."""
    name = stream_name(exchange, index)
    lease = Lease(name, settings.KIRBY_COLLECTOR_LEASE_SECONDS)
    if not lease.acquire():
        return f"{name} is running elsewhere"
    stop = threading.Event()
    _running.add(stop)
    renew_every = settings.KIRBY_COLLECTOR_LEASE_SECONDS / 3
    next_renewal = [time.monotonic() + renew_every]
    ends_at = time.monotonic() + settings.KIRBY_COLLECTOR_STREAM_LIFETIME_SECONDS

    def renew():
        if time.monotonic() >= ends_at and not stop.is_set():
            log.info("stream %s reached the end of its lifetime; stopping", name)
            stop.set()
        if time.monotonic() >= next_renewal[0]:
            next_renewal[0] = time.monotonic() + renew_every
            try:
                held = lease.renew()
            except Exception as error:  # Redis away: keep collecting, the next renewal may work
                log.warning("stream %s: lease renewal failed: %s", name, error)
                return
            if not held:
                log.error("stream %s lost its lease; stopping", name)
                stop.set()

    batcher = Batcher(
        flush_seconds=settings.KIRBY_COLLECTOR_FLUSH_SECONDS,
        batch_size=settings.KIRBY_COLLECTOR_BATCH_SIZE,
        name=name,
        exchange=exchange,
    )
    tune_for_streaming()
    try:
        asyncio.run(Stream(get_adapter(exchange), index, batcher, stop, on_tick=renew).run())
    finally:
        batcher.close()
        _running.discard(stop)
        lease.release()
        close_old_connections()
    return f"{name} stopped"


@shared_task(ignore_result=True, time_limit=60)
def supervise_streams():
    """Start every stream that should run and holds no lease (never started, worker died, ...)."""
    started = []
    dispatch_guard_seconds = max(settings.KIRBY_COLLECTOR_LEASE_SECONDS, 5)
    for exchange in LIVE_EXCHANGES:
        for index in range(connections_needed(get_adapter(exchange))):
            name = stream_name(exchange, index)
            if is_held(name):
                continue
            # One dispatch per lease period, so a queued task is not followed by more of them.
            if dispatch_once(name, dispatch_guard_seconds):
                run_stream.apply_async((exchange, index), queue="collectors")
                started.append(name)
    if started:
        log.info("started streams: %s", ", ".join(started))
    return started
