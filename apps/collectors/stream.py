"""One exchange connection, kept alive forever, for any exchange adapter.

Connects to its endpoint, subscribes to its share of the plan (paced to the
exchange's message rate), parses every frame into records for the batcher,
pings when the exchange wants client pings, polls over REST what the
exchange does not stream (Binance open interest), fetches the REST
snapshots its books start from (Binance), reads back from REST the trades
a venue pushed while it reconnected (where the adapter can), and reconnects with
exponential backoff and jitter whenever the connection drops, errors or
stays quiet longer than normal. An exchange that ends connections at a
maximum age (Binance, 24 hours) gets a replacement first: the new
connection is subscribed while the old one still delivers, then the old one
is closed, so no push falls between them. Plan changes (starlistings added,
removed, deactivated) are applied by subscribing / unsubscribing on the
live connection.
"""

import asyncio
import inspect
import logging
import math
import random
import time
from functools import partial

import aiohttp
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections

from apps.collectors.books import BookKeeper, resync_of
from apps.collectors.closing import CandleCloser
from apps.collectors.exchanges.events import (
    AssetContext,
    BookDelta,
    BookSnapshot,
    BuiltCandle,
    CandleUpdate,
    Control,
    FundingUpdate,
    MalformedFrame,
    MarkPrice,
    OpenInterestUpdate,
    TradeUpdate,
)
from apps.collectors.normalize import (
    candle_records,
    context_records,
    funding_records,
    open_interest_records,
    trade_records,
)
from apps.collectors.plan import plan_for, subscription_key
from apps.collectors.reconcile import ATTEMPTS, RETRY_SECONDS, rest_candle, settle
from apps.collectors.repair import repair_missed
from apps.collectors.sampling import ContextSampler
from apps.collectors.stream_reporter import StreamStatus
from apps.collectors.trade_gaps import TradeGaps
from lib.budget import Budget

log = logging.getLogger(__name__)


# Clock-driven work (closing ended candles, sampling periods, lease, status) runs this often.
TICK_SECONDS = 0.25
# The receiver lets the clock-driven work run at least this often while frames are already buffered.
YIELD_EVERY_FRAMES = 500
# Series that have not pushed this long after a connect are read back from REST history.
QUIET_SERIES_REPAIR_SECONDS = 5
# How long the old connection keeps being read after its replacement has subscribed.
ROLLOVER_OVERLAP_SECONDS = 2.0
# After (re)subscribing, the venue's recent trades are read over REST this much later (history.recent_trades).
RECENT_TRADES_AFTER_SECONDS = 1.0
# A book waiting for a snapshot is asked for one at most this often.
BOOK_REFRESH_SECONDS = 1.0
# REST snapshots one stream fetches at once: each may wait for the budget in a thread of the loop's
# executor, which the plan reads and repairs need too (hundreds of books starting cost minutes of budget).
BOOK_FETCHES_AT_ONCE = 2


def _read_plan(adapter, index):
    try:
        plan = plan_for(adapter, index)
        prepare = getattr(adapter.history, "prepare_stream", None)
        if prepare is not None:  # REST facts its frames need (OKX contract values), before subscribing
            prepare(plan, budget=Budget(adapter.name))
        return plan
    except Exception:
        close_old_connections()  # a connection broken by an outage goes, the next read gets a fresh one
        raise


def _off_loop(function):
    """``function`` run in a worker thread of the loop's executor, its database connection returned after each call.

    A connection left open in such a thread stays checked out of the pool;
    when the loop ends, so does the thread, and the pool never gets it back.
    A worker restarting streams (or a bench running one after another) then
    finds the pool empty and its batcher spooling everything.
    """

    def run(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        finally:
            close_old_connections()  # with the pool (CONN_MAX_AGE 0): handed back to it

    return sync_to_async(run, thread_sensitive=False)


class Reconnect(Exception):
    """The connection must be replaced (dropped, quiet, closed by the exchange)."""


class Retired(Exception):
    """This stream's share of subscriptions no longer exists."""


class _Rollover(Exception):
    """The connection reached its maximum age: replace it."""


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
        # Closed candles built from trades, waiting for their REST check; kept across connections.
        self._reconciles = asyncio.Queue()
        self._marks = {}  # coin -> latest mark price (values polled open interest)
        self.books = BookKeeper(adapter, self._store)
        self._books_asked = {}  # series -> time.monotonic() its book was last asked for a snapshot, or answered
        self._book_fetches = {}  # series -> the task fetching its REST snapshot
        self.trade_gaps = TradeGaps()
        self._reads_back_trades = hasattr(adapter.history, "trade_pages")
        self._trade_reads = set()  # tasks reading missed trades back (held: the loop keeps only weak references)
        self.rollovers = 0

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
                finally:
                    self._books_lost()
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

    def _books_lost(self):
        """The connection ended: its books are not served until the next one has rebuilt each from a fresh
        snapshot (snapshots still being fetched for the old one are dropped)."""
        for fetch in self._book_fetches.values():
            fetch.cancel()
        self._book_fetches.clear()  # a fetch cancelled before it ran never pops itself
        self._books_asked.clear()
        reason = "collector stopped" if self.stop.is_set() else "connection lost; reconnecting"
        try:
            self.books.disconnected(reason)
        except Exception as error:  # Redis away: readers take the books for stale soon anyway
            log.warning("stream %s: marking its books out of sync failed: %s", self.name, error)

    async def _sleep(self, seconds):
        deadline = time.monotonic() + seconds
        while not self.stop.is_set() and time.monotonic() < deadline:
            self._tick()
            await asyncio.sleep(min(0.5, max(0.0, deadline - time.monotonic())))

    async def _load_plan(self):
        try:
            plan = await _off_loop(_read_plan)(self.adapter, self.index)
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
        self.plan = await self._load_plan()
        timeout = aiohttp.ClientTimeout(total=None, connect=10, sock_connect=10)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            ws, subscribed, parse = await self._connect(session)
            self.trade_gaps.reconnected()
            # Rollover across a disconnect proves nothing about final values:
            # what was missed is read back from the REST history instead.
            self.closer = CandleCloser()
            self._last_close = {}
            helpers = [asyncio.create_task(self._repair_loop()), asyncio.create_task(self._reconcile_loop())]
            if self.adapter.protocol.poll_seconds() is not None:
                helpers.append(asyncio.create_task(self._poll_loop()))
            recent = self._recent_trade_series()
            if recent:
                helpers.append(asyncio.create_task(self._recent_trades(recent)))
            try:
                while True:
                    lifetime = self.adapter.protocol.connection_seconds()
                    try:
                        await self._read(
                            ws, subscribed, parse, None if lifetime is None else time.monotonic() + lifetime
                        )
                        return  # stopped
                    except _Rollover:
                        pass
                    # The replacement subscribes while the old connection still delivers; both feed
                    # the same closer and batcher (the write path makes the repeats harmless).
                    replacement, replacement_subscribed, replacement_parse = await self._connect(session)
                    try:
                        await self._read(ws, subscribed, parse, time.monotonic() + ROLLOVER_OVERLAP_SECONDS)
                    except (_Rollover, Reconnect):
                        pass
                    await ws.close()
                    ws, subscribed, parse = replacement, replacement_subscribed, replacement_parse
                    self.rollovers += 1
                    self.status.rolled_over()
                    log.info("stream %s: connection replaced before its maximum age", self.name)
            finally:
                for helper in helpers:
                    helper.cancel()
                await ws.close()

    async def _connect(self, session):
        endpoint = self.plan.endpoint
        url = self.adapter.protocol.ws_url(endpoint)
        ws = await session.ws_connect(url, autoping=True, max_msg_size=16 * 2**20)
        parse = self.parser_for(endpoint)
        try:
            self.status.connected_now()
            subscribed = {}
            await self._apply(ws, self.plan, subscribed)
        except BaseException:
            await ws.close()
            raise
        return ws, subscribed, parse

    def parser_for(self, endpoint):
        """The parse function of one new connection to ``endpoint``."""
        # A venue whose frames build on earlier ones (Bybit's ticker deltas) parses per connection.
        make_parser = getattr(self.adapter.parser, "connection_parser", None)
        if not make_parser:
            return partial(self.adapter.parser.parse_frame, endpoint=endpoint)
        # One that takes ``plan`` reads the whole plan (Coinbase: one channel feeds candles and stored trades).
        extra = {"plan": lambda: self.plan} if "plan" in inspect.signature(make_parser).parameters else {}
        return make_parser(endpoint, lambda: self.plan.candles, **extra)

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
        repair = _off_loop(repair_missed)
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

    async def _reconcile_loop(self):
        """Store each closed built candle once the exchange's REST candle has confirmed or replaced it."""
        check = _off_loop(self._rest_candle)
        while True:
            built, attempt = await self._reconciles.get()
            try:
                rest = await check(built.update)
            except Exception as error:  # the exchange or the budget is away: try again later
                log.warning("stream %s: checking %s %s failed: %s", self.name, built.coin, built.interval, error)
                rest = None
            final, outcome = settle(built, rest, exchange=self.adapter.name, last_attempt=attempt >= ATTEMPTS)
            if final is None:
                asyncio.get_running_loop().call_later(RETRY_SECONDS, self._reconciles.put_nowait, (built, attempt + 1))
                continue
            if outcome == "differed":
                log.info("stream %s: built %s %s at %s differed from REST; stored REST's",
                         self.name, built.coin, built.interval, built.update.open_ms)  # fmt: skip
            self._store(self._candles([final]))

    def _rest_candle(self, update):
        return rest_candle(self.adapter, update, Budget(self.adapter.name))

    async def _apply(self, ws, plan, subscribed):
        protocol = self.adapter.protocol
        gone = [k for k in subscribed if k not in plan.subscriptions]
        frames = protocol.unsubscribe_frames([subscribed.pop(k) for k in gone]) if gone else []
        new = [k for k in plan.subscriptions if k not in subscribed]
        if new:
            frames += protocol.subscribe_frames([plan.subscriptions[k] for k in new])
            subscribed.update((k, plan.subscriptions[k]) for k in new)
        await self._send(ws, frames)
        self.status.subscriptions = len(subscribed)

    async def _poll_loop(self):
        """Ask REST for what the exchange does not stream, once per ``poll_seconds`` per series, a quarter in."""
        every = self.adapter.protocol.poll_seconds()
        poll = _off_loop(self._poll)
        while True:
            now = time.time()
            await asyncio.sleep((now // every + 1.25) * every - now)
            for coin in list(self.plan.contexts):
                try:
                    events = await poll(coin)
                except MalformedFrame as error:
                    self.status.malformed_frame(coin, error)
                    continue
                except Exception as error:  # the exchange or the budget is away: the next round tries again
                    log.warning("stream %s: polling %s failed: %s", self.name, coin, error)
                    continue
                received_ms = int(time.time() * 1000)
                for event in events:
                    self._event(event, received_ms)

    def _recent_trade_series(self):
        """The series whose newest trades are read over REST after this connect (``history.recent_trades``).

        Where the adapter reads windows back (``trade_pages``), only the series without a trade before this
        connect: every other one gets its exact window, which a read of recent trades arriving before the
        series' first push would spoil (``TradeGaps`` takes the first trade after a reconnect as its end)."""
        if getattr(self.adapter.history, "recent_trades", None) is None:
            return []
        if not self._reads_back_trades:
            return list(self.plan.trades)
        return [name for name in self.plan.trades if name not in self.trade_gaps.before]

    async def _recent_trades(self, names):
        """Trades published while this stream was not connected: the venue's newest ones over REST, read
        RECENT_TRADES_AFTER_SECONDS after subscribing (so they overlap what the new subscription pushes; the
        write path stores each trade once). A venue that replays recent trades on subscribe has no such call."""
        await asyncio.sleep(RECENT_TRADES_AFTER_SECONDS)
        read = _off_loop(self.adapter.history.recent_trades)
        for name in names:
            try:
                trades = await read(name, budget=Budget(self.adapter.name))
            except Exception as error:  # the exchange or the budget is away: only the gap stays a gap
                log.warning("stream %s: reading the recent trades of %s failed: %s", self.name, name, error)
                continue
            received_ms = int(time.time() * 1000)
            for event in trades:
                self._event(event, received_ms)

    def _poll(self, coin):
        return self.adapter.history.poll_context(coin, budget=Budget(self.adapter.name))

    async def _read(self, ws, subscribed, parse, until=None):
        """Read until stopped; raise _Rollover at ``until`` (monotonic), Reconnect when the connection fails.

        Frames are received and handled by a task of their own, without a
        timeout per frame (an asyncio timeout per receive cost as much as
        parsing the frame); this loop wakes at least every TICK_SECONDS for
        the clock-driven work: silence, pings, plan refreshes, the tick.
        """
        ping_every = settings.KIRBY_COLLECTOR_PING_SECONDS
        quiet_after = settings.KIRBY_COLLECTOR_QUIET_SECONDS
        refresh_every = settings.KIRBY_COLLECTOR_REFRESH_SECONDS
        now = time.monotonic()
        heard = [now]  # when the last frame arrived, kept current by the receiver
        next_ping, next_refresh, next_tick = now + ping_every, now + refresh_every, now
        refresh = None
        receiver = asyncio.ensure_future(self._receive(ws, parse, heard))
        try:
            while not self.stop.is_set():
                wake = min(next_ping, next_tick, heard[0] + quiet_after, until if until is not None else next_tick)
                await asyncio.wait((receiver,), timeout=max(0.01, min(0.5, wake - time.monotonic())))
                if receiver.done():
                    receiver.result()  # raises Reconnect (or the receiver's bug)
                    raise Reconnect("the receiver stopped")
                now = time.monotonic()
                if now - heard[0] > quiet_after:
                    raise Reconnect(f"quiet for {now - heard[0]:.1f} s")
                if until is not None and now >= until:
                    raise _Rollover
                if now >= next_ping:
                    ping = self.adapter.protocol.ping_frame()
                    if ping is not None:
                        await ws.send_str(ping)
                    next_ping = now + ping_every
                # Read in the background: with the database away a read can take the pool's whole timeout,
                # and this loop must keep renewing the lease and receiving meanwhile.
                if now >= next_refresh and refresh is None:
                    refresh = asyncio.ensure_future(self._load_plan())
                if refresh is not None and refresh.done():
                    plan, refresh = refresh.result(), None
                    if plan.endpoint != self.plan.endpoint:
                        raise Reconnect(f"this stream moved to endpoint {plan.endpoint!r}")
                    self.plan = plan
                    await self._apply(ws, self.plan, subscribed)
                    next_refresh = time.monotonic() + refresh_every
                if now >= next_tick:  # not per frame: at 20,000 frames/s that is real work
                    self._tick()
                    await self._refresh_books(ws, subscribed)
                    next_tick = now + TICK_SECONDS
        finally:
            receiver.cancel()
            if refresh is not None:
                refresh.cancel()

    async def _receive(self, ws, parse, heard):
        """Handle every frame of ``ws`` as it comes; raise Reconnect when the connection ends."""
        handled = 0
        # Looked up once: this loop runs for every frame of a flood.
        receive, handle, monotonic, text = ws.receive, self._handle, time.monotonic, aiohttp.WSMsgType.TEXT
        while True:
            message = await receive()
            if message.type == text:
                heard[0] = monotonic()
                handle(parse, message.data)
                handled += 1
                if handled == YIELD_EVERY_FRAMES:
                    handled = 0
                    await asyncio.sleep(0)  # frames already buffered are returned without yielding: let the clock in
            elif message.type == aiohttp.WSMsgType.BINARY:
                heard[0] = time.monotonic()
                self.status.malformed_frame(message.data[:200], "binary frame")
            elif message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING):
                raise Reconnect(f"connection closed by the exchange (code {ws.close_code})")
            elif message.type == aiohttp.WSMsgType.ERROR:
                raise Reconnect(f"connection error: {ws.exception()}")

    async def _refresh_books(self, ws, subscribed):
        """Get a fresh snapshot for each book that waits for one (BookKeeper ``wanted``), as the venue's
        ``book.RESYNC`` says; at most once per book every BOOK_REFRESH_SECONDS.

        ``resubscribe``: unsubscribe and subscribe the book's channel on this
        connection; the venue answers with a snapshot, which puts it in sync.
        """
        rules = self.adapter.book
        if rules is None or not self.books.wanted or resync_of(rules) != "resubscribe":
            return
        now, protocol = time.monotonic(), self.adapter.protocol
        due = [name for name in sorted(self.books.wanted)
               if now - self._books_asked.get(name, -math.inf) >= BOOK_REFRESH_SECONDS]  # fmt: skip
        mine = [protocol.book_subscription(name) for name in due]
        mine = [subscription for subscription in mine if subscription_key(subscription) in subscribed]
        if not mine:
            return
        self._books_asked.update(dict.fromkeys(due, now))
        log.info("stream %s: resubscribing %d order book(s) for a fresh snapshot", self.name, len(mine))
        await self._send(ws, protocol.unsubscribe_frames(mine) + protocol.subscribe_frames(mine))

    async def _send(self, ws, frames):
        """Send client frames paced to the venue's message rate."""
        rate = self.adapter.protocol.messages_per_second(self.plan.endpoint)
        for position, frame in enumerate(frames):
            if rate and position:  # the exchange disconnects a client sending faster than it allows
                await asyncio.sleep(1 / rate)
            await ws.send_str(frame)

    def _tick(self):
        now_ms = int(time.time() * 1000)
        self._store(self._candles(self.closer.expire(now_ms)))
        self._store(self._sampled(self.sampler.expire(now_ms)))
        self.books.tick()
        self._fetch_books()
        if self.on_tick:
            self.on_tick()
        self.status.maybe_report(self.batcher.pending())

    def _fetch_books(self):
        """Fetch a REST snapshot for each book waiting for one (``books.wanted``, ``RESYNC = "rest"``), at most
        once a second per series, off the event loop, paid from the venue's budget, and feed it back; the deltas
        buffered meanwhile replay on it. (``"resubscribe"`` books: _refresh_books, which needs the connection.)
        """
        rules, wanted = self.adapter.book, self.books.wanted
        if rules is None or not wanted or self.plan is None or resync_of(rules) != "rest":
            return
        now = time.monotonic()
        for name in list(wanted):
            if name not in self.plan.books:  # switched off meanwhile
                wanted.discard(name)
                continue
            if name in self._book_fetches or now - self._books_asked.get(name, -1e9) < BOOK_REFRESH_SECONDS:
                continue
            if len(self._book_fetches) >= BOOK_FETCHES_AT_ONCE:
                break
            self._books_asked[name] = now
            self._book_fetches[name] = asyncio.ensure_future(self._fetch_book(name))

    async def _fetch_book(self, name):
        try:
            snapshot = await _off_loop(self._book_snapshot)(name)
        except Exception as error:  # the exchange or the budget is away: the next refresh asks again
            log.warning("stream %s: fetching the %s book snapshot failed: %s", self.name, name, error)
            return
        finally:
            self._book_fetches.pop(name, None)
            # The next ask counts from this answer, not from this ask: a fetch may wait for the budget, and the
            # venue must not see two within BOOK_REFRESH_SECONDS.
            self._books_asked[name] = time.monotonic()
        if self.plan is not None and name in self.plan.books:
            self._event(snapshot, int(time.time() * 1000))

    def _book_snapshot(self, name):
        return self.adapter.history.book_snapshot(name, budget=Budget(self.adapter.name))

    async def _read_back_trades(self, name, start_ms, end_ms):
        """Store the trades of ``[start_ms, end_ms)`` the venue pushed while this stream was reconnecting."""
        try:
            self._store(await _off_loop(self._trade_window)(name, start_ms, end_ms))
        except Exception as error:  # the exchange or the budget is away: those trades stay missing
            log.warning("stream %s: reading back the %s trades of [%s, %s) failed: %s", self.name, name, start_ms,
                        end_ms, error)  # fmt: skip

    def _trade_window(self, name, start_ms, end_ms):
        pair_ids = self.plan.trades.get(name, ()) if self.plan else ()
        pages = self.adapter.history.trade_pages(name, start_ms, end_ms, budget=Budget(self.adapter.name))
        return [record for page in pages for update in page for record in trade_records(update, pair_ids)]

    def _handle(self, parse, raw):
        now = time.time()
        try:
            events = parse(raw)
        except MalformedFrame as error:
            self.status.malformed_frame(raw, error)
            return
        self.status.message(now)
        trades = self.plan.trades if self.plan is not None else None
        for event in events:
            # A flood of trades is the busiest case: _routed and _event's first branch inline.
            if type(event) is TradeUpdate and trades is not None:
                pair_ids = trades.get(event.coin)
                if pair_ids is not None:
                    self._trade(event, pair_ids)
                    continue
            if self._routed(event):
                self._event(event, int(now * 1000))
            else:  # a symbol or interval this connection did not subscribe to: bad input, counted and skipped
                self.status.malformed_frame(raw, f"not subscribed here: {getattr(event, 'coin', '?')}")

    def _routed(self, event):
        if isinstance(event, TradeUpdate) and self.plan is not None:  # first: a flood of trades is the busiest case
            return event.coin in self.plan.trades
        if self.plan is None or isinstance(event, Control):
            return True
        if isinstance(event, CandleUpdate | BuiltCandle):
            return (event.coin, event.interval) in self.plan.candles
        if isinstance(event, BookSnapshot | BookDelta):
            return event.coin in self.plan.books
        return event.coin in self.plan.contexts

    def _event(self, event, received_ms):
        counts = self.status.events
        if isinstance(event, TradeUpdate):  # first: a flood of trades is the busiest case
            self._trade(event)
        elif isinstance(event, CandleUpdate):
            counts["candle"] += 1
            self._check_continuity(event)
            self._store(self._candles(self.closer.feed(event, received_ms)))
        elif isinstance(event, BuiltCandle):
            counts["candle"] += 1
            self._check_continuity(event.update)
            if event.update.closed:  # final only once checked against the exchange's REST candle
                self._reconciles.put_nowait((event, 1))
            else:  # a trade-built venue sends one per message: the short way to the batcher
                add, update = self.batcher.add, event.update
                ids = self.plan.candles.get((update.coin, update.interval), ()) if self.plan else ()
                for record in candle_records(update, ids):
                    add(record)
        elif isinstance(event, AssetContext):
            counts["asset_ctx"] += 1
            self._store(self._sampled(self.sampler.feed(event.coin, event, received_ms)))
        elif isinstance(event, FundingUpdate):
            counts["asset_ctx"] += 1
            if event.mark_price is not None:
                self._marks[event.coin] = event.mark_price
            self._store(self._sampled(self.sampler.feed(("funding", event.coin), event, received_ms)))
        elif isinstance(event, OpenInterestUpdate):
            counts["asset_ctx"] += 1
            event = event._replace(mark_price=event.mark_price or self._marks.get(event.coin))
            self._store(self._sampled(self.sampler.feed(("open_interest", event.coin), event, received_ms)))
        elif isinstance(event, MarkPrice):
            counts["asset_ctx"] += 1
            self._marks[event.coin] = event.mark_price
        elif isinstance(event, BookSnapshot | BookDelta):
            counts["book"] += 1
            self.books.feed(event, self.plan.books.get(event.coin, ()) if self.plan else ())
        elif isinstance(event, Control):
            counts["control"] += 1
            if event.kind == "error":
                self.status.exchange_error(event.detail)
            elif event.kind == "resync":  # the exchange says messages were lost on this connection
                raise Reconnect(f"resubscribing: {event.detail}")

    def _trade(self, event, pair_ids=None):
        if pair_ids is None:
            pair_ids = self.plan.trades.get(event.coin, ()) if self.plan else ()
        self.status.events["trade"] += 1
        add = self.batcher.add
        for record in trade_records(event, pair_ids):
            add(record)
        if not self._reads_back_trades:  # the venue replays them, or offers no window to read
            return
        missed = self.trade_gaps.seen(event)
        if missed:
            task = asyncio.ensure_future(self._read_back_trades(*missed))
            self._trade_reads.add(task)
            task.add_done_callback(self._trade_reads.discard)

    def _candles(self, updates):
        records = []
        for update in updates:
            records.extend(
                candle_records(update, self.plan.candles.get((update.coin, update.interval), ()) if self.plan else ())
            )
        return records

    def _sampled(self, samples):
        records = []
        for _, end_ms, context, received_ms in samples:
            pair_ids = self.plan.contexts.get(context.coin, ()) if self.plan else ()
            if isinstance(context, FundingUpdate):
                records.extend(funding_records(context, end_ms, pair_ids))
            elif isinstance(context, OpenInterestUpdate):
                records.extend(open_interest_records(context, end_ms, pair_ids))
            else:
                records.extend(context_records(context, end_ms, received_ms, pair_ids))
        return records

    def _store(self, records):
        for record in records:
            self.batcher.add(record)
