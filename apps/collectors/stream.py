"""One exchange connection, kept alive forever.

Connects, subscribes to its share of the plan, parses every frame into
records for the batcher, pings, and reconnects with exponential backoff and
jitter whenever the connection drops, errors or stays quiet longer than
normal. Plan changes (starlistings added, removed, deactivated) are applied
by subscribing / unsubscribing on the live connection.
"""

import asyncio
import logging
import random
import time

import aiohttp
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections

from apps.collectors.closing import CandleCloser
from apps.collectors.exchanges.events import AssetContext, CandleUpdate, Control, MalformedFrame
from apps.collectors.normalize import candle_records, context_records
from apps.collectors.plan import plan_for
from apps.collectors.repair import repair_missed
from apps.collectors.sampling import ContextSampler
from apps.collectors.stream_reporter import StreamStatus

log = logging.getLogger(__name__)


# Clock-driven work (closing ended candles, sampling periods, lease, status) runs this often.
TICK_SECONDS = 0.25
# Series that have not pushed this long after a connect are read back from REST history.
QUIET_SERIES_REPAIR_SECONDS = 5


def _read_plan(adapter, index):
    try:
        return plan_for(adapter, index)
    except Exception:
        close_old_connections()  # a connection broken by an outage goes, the next read gets a fresh one
        raise


class Reconnect(Exception):
    """The connection must be replaced (dropped, quiet, closed by the exchange)."""


class Retired(Exception):
    """This stream's share of subscriptions no longer exists."""


class Stream:
    def __init__(self, adapter, index, batcher, stop, *, on_tick=None):
        self.adapter = adapter
        self.index = index
        self.name = f"{adapter.name}/{index}"
        self.batcher = batcher
        self.stop = stop  # threading.Event: set to end the stream
        self.on_tick = on_tick  # called every TICK_SECONDS or so (lease renewal)
        self.status = StreamStatus(self.name, adapter.name)
        self.closer = CandleCloser()
        self.sampler = ContextSampler(settings.KIRBY_CONTEXT_PERIOD_SECONDS)
        self.plan = None
        self._last_close = {}  # (coin, interval) -> close time of the latest push on this connection
        self._repairs = asyncio.Queue()

    async def run(self):
        backoff = 0.5
        try:
            while not self.stop.is_set():
                started = time.monotonic()
                try:
                    await self._session()
                except Retired:
                    log.info("stream %s has no subscriptions left; stopping", self.name)
                    break
                except (Reconnect, aiohttp.ClientError, OSError, TimeoutError) as error:
                    self.status.failed(error)
                    log.warning("stream %s: %s; reconnecting", self.name, error)
                except Exception as error:  # never let one bug end collection
                    self.status.failed(error)
                    log.exception("stream %s failed; reconnecting", self.name)
                if self.stop.is_set():
                    break
                if time.monotonic() - started > 60:
                    backoff = 0.5  # the last connection was healthy: start over
                delay = random.uniform(0, backoff)
                backoff = min(backoff * 2, settings.KIRBY_COLLECTOR_BACKOFF_MAX_SECONDS)
                self.status.reconnected()
                await self._sleep(delay)
        finally:
            self._store(self._sampled(self.sampler.drain()))
            self.status.stopped()

    async def _sleep(self, seconds):
        deadline = time.monotonic() + seconds
        while not self.stop.is_set() and time.monotonic() < deadline:
            self._tick()
            await asyncio.sleep(min(0.5, max(0.0, deadline - time.monotonic())))

    async def _load_plan(self):
        try:
            plan = await sync_to_async(_read_plan, thread_sensitive=False)(self.adapter, self.index)
        except Exception as error:
            if self.plan is None:
                raise
            # The database is away: keep collecting what we know to collect (the batcher spools it).
            log.warning("stream %s: cannot re-read its plan (%s); keeping the current one", self.name, error)
            return self.plan
        if not plan.subscriptions:
            raise Retired
        self.status.unsupported = plan.unsupported
        return plan

    async def _session(self):
        protocol = self.adapter.protocol
        self.plan = await self._load_plan()
        timeout = aiohttp.ClientTimeout(total=None, connect=10, sock_connect=10)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            async with session.ws_connect(protocol.ws_url(), autoping=True, max_msg_size=16 * 2**20) as ws:
                self.status.connected_now()
                # Rollover across a disconnect proves nothing about final values:
                # what was missed is read back from the REST history instead.
                self.closer = CandleCloser()
                self._last_close = {}
                subscribed = {}
                await self._apply(ws, self.plan, subscribed)
                repairs = asyncio.create_task(self._repair_loop())
                try:
                    await self._read(ws, subscribed)
                finally:
                    repairs.cancel()

    def _check_continuity(self, update):
        key = (update.coin, update.interval)
        previous_close = self._last_close.get(key)
        if previous_close is None:
            self._repairs.put_nowait((key, None, update.open_ms))
        elif update.open_ms > previous_close + 1:
            self._repairs.put_nowait((key, previous_close + 1, update.open_ms))
        if previous_close is None or update.close_ms > previous_close:
            self._last_close[key] = update.close_ms

    async def _repair_loop(self):
        repair = sync_to_async(repair_missed, thread_sensitive=False)
        quiet_check_at = time.monotonic() + QUIET_SERIES_REPAIR_SECONDS
        while True:
            try:
                timeout = None if quiet_check_at is None else max(0.0, quiet_check_at - time.monotonic())
                (coin, interval), start_ms, before_ms = await asyncio.wait_for(self._repairs.get(), timeout)
            except TimeoutError:
                for key in self.plan.candles:
                    if key not in self._last_close:
                        self._repairs.put_nowait((key, None, None))
                quiet_check_at = None
                continue
            starlisting_ids = self.plan.candles.get((coin, interval)) if self.plan else None
            if starlisting_ids:
                now_ms = int(time.time() * 1000)
                try:
                    await repair(self.adapter, coin, interval, starlisting_ids, start_ms, before_ms, now_ms)
                except Exception:  # the database is away: the periodic gap scan finds the hole later
                    log.exception("stream %s: repairing %s %s failed", self.name, coin, interval)

    async def _apply(self, ws, plan, subscribed):
        protocol = self.adapter.protocol
        for key in [k for k in subscribed if k not in plan.subscriptions]:
            await ws.send_str(protocol.unsubscribe_frame(subscribed.pop(key)))
        for key, subscription in plan.subscriptions.items():
            if key not in subscribed:
                await ws.send_str(protocol.subscribe_frame(subscription))
                subscribed[key] = subscription
        self.status.subscriptions = len(subscribed)

    async def _read(self, ws, subscribed):
        ping_every = settings.KIRBY_COLLECTOR_PING_SECONDS
        quiet_after = settings.KIRBY_COLLECTOR_QUIET_SECONDS
        refresh_every = settings.KIRBY_COLLECTOR_REFRESH_SECONDS
        now = time.monotonic()
        last_heard, next_ping, next_refresh, next_tick = now, now + ping_every, now + refresh_every, now
        refresh = None
        try:
            while not self.stop.is_set():
                try:
                    message = await ws.receive(timeout=max(0.01, min(0.5, next_ping - time.monotonic())))
                except TimeoutError:
                    message = None
                now = time.monotonic()
                if message is not None:
                    if message.type == aiohttp.WSMsgType.TEXT:
                        last_heard = now
                        self._handle(message.data)
                    elif message.type == aiohttp.WSMsgType.BINARY:
                        last_heard = now
                        self.status.malformed_frame(message.data[:200], "binary frame")
                    elif message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING):
                        raise Reconnect(f"connection closed by the exchange (code {ws.close_code})")
                    elif message.type == aiohttp.WSMsgType.ERROR:
                        raise Reconnect(f"connection error: {ws.exception()}")
                if now - last_heard > quiet_after:
                    raise Reconnect(f"quiet for {now - last_heard:.1f} s")
                if now >= next_ping:
                    await ws.send_str(self.adapter.protocol.ping_frame())
                    next_ping = now + ping_every
                # Read in the background: with the database away a read can take the pool's whole timeout,
                # and this loop must keep renewing the lease and receiving meanwhile.
                if now >= next_refresh and refresh is None:
                    refresh = asyncio.ensure_future(self._load_plan())
                if refresh is not None and refresh.done():
                    self.plan, refresh = refresh.result(), None
                    await self._apply(ws, self.plan, subscribed)
                    next_refresh = time.monotonic() + refresh_every
                if now >= next_tick:  # not per frame: at 20,000 frames/s that is real work
                    self._tick()
                    next_tick = now + TICK_SECONDS
        finally:
            if refresh is not None:
                refresh.cancel()

    def _tick(self):
        now_ms = int(time.time() * 1000)
        self._store(self._candles(self.closer.expire(now_ms)))
        self._store(self._sampled(self.sampler.expire(now_ms)))
        if self.on_tick:
            self.on_tick()
        self.status.maybe_report(self.batcher.pending())

    def _handle(self, raw):
        received_ms = int(time.time() * 1000)
        try:
            events = self.adapter.parser.parse_frame(raw)
        except MalformedFrame as error:
            self.status.malformed_frame(raw, error)
            return
        self.status.message()
        counts = self.status.events
        for event in events:
            if isinstance(event, CandleUpdate):
                counts["candle"] += 1
                self._check_continuity(event)
                self._store(self._candles(self.closer.feed(event, received_ms)))
            elif isinstance(event, AssetContext):
                counts["asset_ctx"] += 1
                self._store(self._sampled(self.sampler.feed(event.coin, event, received_ms)))
            elif isinstance(event, Control):
                counts["control"] += 1
                if event.kind == "error":
                    self.status.exchange_error(event.detail)

    def _candles(self, updates):
        records = []
        for update in updates:
            records.extend(
                candle_records(update, self.plan.candles.get((update.coin, update.interval), ()) if self.plan else ())
            )
        return records

    def _sampled(self, samples):
        records = []
        for coin, end_ms, context, received_ms in samples:
            pair_ids = self.plan.contexts.get(coin, ()) if self.plan else ()
            records.extend(context_records(context, end_ms, received_ms, pair_ids))
        return records

    def _store(self, records):
        for record in records:
            self.batcher.add(record)
