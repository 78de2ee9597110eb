"""OKX V5's public and business WebSockets (EXCHANGES.md sections 5.1-5.2) over the deterministic markets.

``GET /ws/v5/public`` serves ``funding-rate``, ``open-interest`` and
``mark-price`` of swaps and ``trades`` and ``books`` of swaps and spot
(okx_ticks; ``GET /api/v5/market/trades`` the newest trades, ``/api/v5/market/history-trades``
older ones, paged as OKX pages them);
``/ws/v5/business`` serves ``candle{bar}`` of swaps and spot.
``{"op":"subscribe","args":[{"channel","instId"}]}`` is acked once per arg
(``{"event":"subscribe","arg","connId"}``) or refused with
``{"event":"error","code":"60018",...}`` (a channel of the other endpoint,
an unknown bar or instrument, funding of a spot pair) or ``60012`` (not
JSON, an unknown op). The text ``ping`` is answered ``pong``; a connection
that hears nothing from its client for ``IDLE_SECONDS`` is closed, as OKX
does. Candles: the open candle (``confirm`` ``"0"``) every update
interval, and on rollover the finished one once with ``"1"``. Context
channels push every context interval, numbers and times as strings; every
push sent is kept in the ctx log under ``okx:{instId}`` (funding),
``okx-oi:{instId}`` and ``okx-mark:{instId}``. The shared faults (drop,
silence, malformed) apply: every frame goes through ``Connection``; book
faults come from ``/control/book-fault`` with venue ``okx``.
"""

import asyncio
import json
import time

from aiohttp import WSMsgType, web

from . import control, intervals, okx_ticks
from .connection import Connection, Sent
from .context import asset_ctx
from .hyperliquid import flood_states
from .market import decimal_text
from .okx import (
    BARS,
    FUNDING_EVERY,
    LISTINGS,
    SEED_OFFSET,
    SPOT,
    SWAP,
    Invalid,
    _int,
    _limit,
    candle_row,
    funding_rate_at,
    instrument,
    market,
    open_interest_at,
    rest_route,
)
from .state import STATE

PUBLIC, BUSINESS = "public", "business"
PUBLIC_CHANNELS = ("funding-rate", "open-interest", "mark-price")
TICK_CHANNELS = ("trades", "books")  # swaps and spot
MAX_RECENT_TRADES = 500
RECENT_TRADES_LOOKBACK_MS = 24 * intervals.HOUR
HISTORY_TRADES_KEPT_MS = 90 * intervals.DAY  # OKX serves the last three months
IDLE_SECONDS = 30.0
FLOOD_VENUE = "okx-business"
BAR_NAMES = {kirby: bar for bar, kirby in BARS.items()}


def dumps(value) -> str:
    return json.dumps(value, separators=(",", ":"))


def arg_problem(endpoint: str, arg) -> str | None:
    """Why OKX would refuse ``arg`` on ``endpoint``, or None."""
    if not isinstance(arg, dict) or not isinstance(arg.get("channel"), str):
        return f"Wrong URL or channel:{arg}"
    channel, inst_id = arg["channel"], arg.get("instId")
    try:
        _, kind = instrument(inst_id)
    except Invalid:
        return f"Wrong URL or channel:{channel},instId:{inst_id} doesn't exist."
    if endpoint == BUSINESS and channel.startswith("candle") and channel[len("candle") :] in BARS:
        return None
    if endpoint == PUBLIC and channel in PUBLIC_CHANNELS and kind == SWAP:
        return None
    if endpoint == PUBLIC and channel in TICK_CHANNELS:
        return None
    return f"Wrong URL or channel:{channel},instId:{inst_id} doesn't exist."


def context_fields(seed: int, channel: str, inst_id: str, now_ms: int) -> dict:
    """One push's data item of a public channel at virtual ``now_ms``."""
    coin, _ = instrument(inst_id)
    base = {"instId": inst_id, "instType": SWAP}
    if channel == "funding-rate":
        next_settlement = now_ms - now_ms % FUNDING_EVERY + FUNDING_EVERY
        following = str(next_settlement + FUNDING_EVERY)
        return {**base, "fundingRate": funding_rate_at(seed, coin, now_ms), "fundingTime": str(next_settlement),
                "method": "current_period", "nextFundingRate": "", "nextFundingTime": following,
                "ts": str(now_ms)}  # fmt: skip
    if channel == "open-interest":
        contracts, coins, usd = open_interest_at(seed, inst_id, now_ms)
        return {**base, "oi": contracts, "oiCcy": coins, "oiUsd": usd, "ts": str(now_ms)}
    return {**base, "markPx": asset_ctx(seed + SEED_OFFSET[SWAP], coin, now_ms)["markPx"], "ts": str(now_ms)}


LOG_PREFIX = {"funding-rate": "okx", "open-interest": "okx-oi", "mark-price": "okx-mark"}


class OkxStream:
    def __init__(self, state, endpoint: str):
        self.state, self.endpoint = state, endpoint

    async def on_text(self, connection: Connection, text: str) -> None:
        if text == "ping":
            await connection.send("pong")
            return
        try:
            message = json.loads(text)
        except ValueError:
            message = None
        op = message.get("op") if isinstance(message, dict) else None
        if op not in ("subscribe", "unsubscribe") or not isinstance(message.get("args"), list):
            await self._error(connection, "60012", f"Invalid request: {text[:100]}")
            return
        for arg in message["args"]:
            key = dumps(arg)
            if op == "unsubscribe":
                connection.stop(key)
                connection.subscriptions.pop(key, None)
                await connection.send(dumps({"event": "unsubscribe", "arg": arg, "connId": self._conn_id(connection)}))
                continue
            problem = arg_problem(self.endpoint, arg)
            if problem is None and key in connection.subscriptions:
                problem = f"Duplicate subscription: {key}"
            if problem:
                await self._error(connection, "60018", problem)
                continue
            connection.subscriptions[key] = arg
            await connection.send(dumps({"event": "subscribe", "arg": arg, "connId": self._conn_id(connection)}))
            if self.endpoint == BUSINESS:
                connection.start(key, self._push_candles(connection, arg))
            elif arg["channel"] == "trades":
                connection.start(key, self._push_trades(connection, arg))
            elif arg["channel"] == "books":
                connection.start(key, self._push_books(connection, arg))
            else:
                connection.start(key, self._push_context(connection, arg))

    def _conn_id(self, connection: Connection) -> str:
        return f"sim-{self.endpoint}-{connection.id}"

    async def _error(self, connection, code, msg):
        await connection.send(dumps({"event": "error", "code": code, "msg": msg, "connId": self._conn_id(connection)}))

    async def _push_candles(self, connection: Connection, arg: dict) -> None:
        interval, inst_id, seed = BARS[arg["channel"][len("candle") :]], arg["instId"], self.state.config.seed
        current = None
        while True:
            now = self.state.clock.now_ms()
            open_ms = intervals.floor(interval, now)
            rows = []
            if current is not None and open_ms != current:
                rows.append(candle_row(seed, inst_id, interval, current))
            current = open_ms
            rows.append(candle_row(seed, inst_id, interval, open_ms, now))
            async with connection.send_lock:
                for row in rows:
                    await connection.send(dumps({"arg": arg, "data": [row]}), data=True)
            await asyncio.sleep(self.state.config.update_interval)

    async def _push_context(self, connection: Connection, arg: dict) -> None:
        channel, inst_id = arg["channel"], arg["instId"]
        while True:
            fields = context_fields(self.state.config.seed, channel, inst_id, self.state.clock.now_ms())
            async with connection.send_lock:
                sent = await connection.send(dumps({"arg": arg, "data": [fields]}), data=True)
            if sent is Sent.SENT:
                self.state.log_ctx(f"{LOG_PREFIX[channel]}:{inst_id}", fields)
            await asyncio.sleep(self.state.config.ctx_interval)

    def _take_fault(self, kind: str) -> bool:
        return self.state.faults.take_book_fault("okx", kind)

    async def _push_trades(self, connection: Connection, arg: dict) -> None:
        """Each trade once its virtual time has come (none from before the subscription, as OKX: a client
        reads what it missed from ``GET /api/v5/market/trades``)."""
        inst_id, seed, clock = arg["instId"], self.state.config.seed, self.state.clock
        sent_until = clock.now_ms() + 1
        while True:
            await asyncio.sleep(self.state.config.update_interval)
            now = clock.now_ms()
            tape = await asyncio.to_thread(okx_ticks.trades, seed, inst_id, sent_until, now + 1)
            sent_until = now + 1
            if not tape:
                continue
            async with connection.send_lock:
                await connection.send(dumps({"arg": arg, "data": tape}), data=True)

    async def _push_books(self, connection: Connection, arg: dict) -> None:
        """A snapshot of the current block, then every update interval the levels that changed since the
        last push (``prevSeqId`` its ``seqId``; nothing changed: an empty update with ``prevSeqId == seqId``).

        Faults (``POST /control/book-fault`` with venue ``okx``): ``gap`` loses one update, so the next one's
        ``prevSeqId`` was never seen; ``crossed`` adds a bid at the best ask to one update (removed by the
        next); ``lost-snapshot`` never sends the snapshot of one subscription, updates follow regardless.
        """
        inst_id, seed, clock = arg["instId"], self.state.config.seed, self.state.clock
        sent = okx_ticks.book(seed, inst_id, clock.now_ms())
        if not self._take_fault("lost-snapshot"):
            async with connection.send_lock:
                await connection.send(dumps({"arg": arg, "action": "snapshot", "data": [{**sent, "prevSeqId": -1}]}),
                                      data=True)  # fmt: skip
        while True:
            await asyncio.sleep(self.state.config.update_interval)
            current = okx_ticks.book(seed, inst_id, clock.now_ms())
            update = {**okx_ticks.changes(sent, current), "ts": current["ts"], "checksum": 0,
                      "prevSeqId": sent["seqId"], "seqId": current["seqId"]}  # fmt: skip
            if self._take_fault("crossed"):
                crossing = [current["asks"][0][0], "1", "0", "1"]
                update["bids"] = [*update["bids"], crossing]
                current = {**current, "bids": [crossing, *current["bids"]]}
            sent = current
            if self._take_fault("gap"):
                continue  # lost on the way: the client's next update does not chain
            async with connection.send_lock:
                await connection.send(dumps({"arg": arg, "action": "update", "data": [update]}), data=True)

    async def flood(self, coin: str, interval: str, messages: int) -> dict:
        """Burst ``messages`` updates of ``coin``-USDT spot's open candle to its subscribers (as the others' floods)."""
        inst_id = f"{coin}-USDT"
        arg = {"channel": "candle" + BAR_NAMES[interval], "instId": inst_id}
        targets = [c for c in self.state.connections.values() if dumps(arg) in c.subscriptions]
        now = self.state.clock.now_ms()
        open_ms = intervals.floor(interval, now)
        simulated = market(self.state.config.seed, SPOT)
        frames = []
        for candle in flood_states(simulated.tick_states(coin, interval, open_ms, now, messages), messages):
            prices = [decimal_text(x) for x in (candle.open, candle.high, candle.low, candle.close)]
            quote = decimal_text(candle.volume * candle.close)
            row = [str(open_ms), *prices, decimal_text(candle.volume), quote, quote, "0"]
            frames.append(dumps({"arg": arg, "data": [row]}))
        started = time.monotonic()

        async def burst(connection: Connection) -> None:
            async with connection.send_lock:
                for frame in frames:
                    await connection.send(frame, data=True)

        await asyncio.gather(*(burst(connection) for connection in targets))
        return {"sent": len(frames) if targets else 0, "connections": len(targets),
                "seconds": time.monotonic() - started, "virtual_time_ms": now}  # fmt: skip


def _handler(endpoint: str):
    async def websocket(request: web.Request) -> web.WebSocketResponse:
        state = request.app[STATE]
        ws = web.WebSocketResponse(timeout=1.0, compress=False, receive_timeout=IDLE_SECONDS)
        await ws.prepare(request)
        connection = Connection(state, ws, request.transport)
        state.connections[connection.id] = connection
        stream = OkxStream(state, endpoint)
        try:
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    await stream.on_text(connection, message.data)
        except TimeoutError:
            await ws.close(message=b"no ping within 30 s")  # OKX ends a connection its client left silent
        finally:
            connection.stop_all()
            state.connections.pop(connection.id, None)
        return ws

    return websocket


def truth_trades(state, coin, start_ms, end_ms):
    return okx_ticks.trades(state.config.seed, coin, start_ms, end_ms)


def truth_book(state, coin, time_ms):
    return okx_ticks.book(state.config.seed, coin, time_ms)


def recent_trades(state, app, query):
    """``GET /api/v5/market/trades``: the newest ``limit`` (at most 500) trades up to virtual now, newest first."""
    inst_id, now, found = query.get("instId"), state.clock.now_ms(), []
    instrument(inst_id)
    limit = query.get("limit", "100")
    if not limit.isdigit() or not 1 <= int(limit) <= MAX_RECENT_TRADES:
        raise Invalid("Parameter limit error", "51000")
    end = now + 1
    while len(found) < int(limit) and end > now - RECENT_TRADES_LOOKBACK_MS:
        found += okx_ticks.trades(state.config.seed, inst_id, end - intervals.HOUR, end)
        end -= intervals.HOUR
    found.sort(key=lambda item: int(item["ts"]), reverse=True)
    return found[: int(limit)]


def _history_bounds(query, now: int) -> tuple[int, int]:
    """``[low, high)`` in virtual ms of a history-trades query: ``type`` 1 pages by ``tradeId`` (ids are whole
    seconds here, okx_ticks), 2 by ``ts``; ``after`` is older than, ``before`` newer than (ids only, as OKX)."""
    paging = query.get("type", "1")
    if paging not in ("1", "2"):
        raise Invalid("Parameter type error", "51000")
    after, before = _int(query, "after"), _int(query, "before")
    if paging == "2" and before is not None:
        raise Invalid("Parameter before error: before pages by tradeId only", "51000")
    high = now + 1
    if after is not None:
        high = min(high, after * okx_ticks.TRADE_ID_MS if paging == "1" else after)
    low = now + 1 - HISTORY_TRADES_KEPT_MS
    if before is not None:
        low = max(low, (before + 1) * okx_ticks.TRADE_ID_MS)
    return low, high


def history_trades(state, app, query):
    """``GET /api/v5/market/history-trades``: the newest ``limit`` (at most 100) trades of the asked range, newest
    first, nothing after virtual now, before the listing or older than three months (``before`` alone: the
    newest trades after that id, as OKX answers)."""
    inst_id = query.get("instId")
    instrument(inst_id)
    limit = _limit(query, "history-trades")
    low, end = _history_bounds(query, state.clock.now_ms())
    low, found = max(low, app[LISTINGS].get(inst_id, 0)), []
    while len(found) < limit and end > low:  # an hour at a time, newest first: a page is minutes of the tape
        start = max(low, end - intervals.HOUR)
        found += reversed(okx_ticks.trades(state.config.seed, inst_id, start, end))
        end = start
    return found[:limit]


def add_routes(app: web.Application) -> None:
    state = app[STATE]
    app.router.add_get("/api/v5/market/trades", rest_route(recent_trades))
    app.router.add_get("/api/v5/market/history-trades", rest_route(history_trades))
    control.TICK_TRUTHS["okx"] = (truth_trades, truth_book)
    state.protocols[FLOOD_VENUE] = OkxStream(state, BUSINESS)  # POST /control/flood {"venue": "okx-business"}
    app.router.add_get("/ws/v5/public", _handler(PUBLIC))
    app.router.add_get("/ws/v5/business", _handler(BUSINESS))
