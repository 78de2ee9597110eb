"""Bybit V5's public WebSocket (EXCHANGES.md section 4.1-4.2) over the deterministic markets.

``GET /v5/public/linear`` and ``/v5/public/spot`` speak what a collector
meets on Bybit: ``{"op":"subscribe","args":[topics],"req_id"}`` acked with
``{"success", "ret_msg", "conn_id", "req_id", "op"}`` (refused with
``success: false`` for an unknown topic, a repeated one, more than 10 args
in one spot request, or more than 21,000 characters of args on one
connection); ``{"op":"ping"}`` answered by a pong (linear: ``op`` ping with
``ret_msg`` pong; spot: ``op`` pong); ``kline.{interval}.{symbol}`` pushes of
the open candle (``confirm: false``) repeated every update interval, and on
rollover the finished candle once with ``confirm: true``; linear
``tickers.{symbol}``: a ``snapshot`` first, then ``delta``s carrying only
the fields that changed; ``publicTrade.{symbol}``: each trade once its
virtual time has come (nothing from before the subscription, as on Bybit);
``orderbook.{depth}.{symbol}``: a ``snapshot`` of the true book, then one
``delta`` per book update, ``u`` growing by one (``bybit_ticks``). Every
full ticker state sent is kept in the simulator's ctx log under
``bybit:{symbol}``. The shared faults (drop, silence, malformed) apply,
since every frame goes through ``Connection``; so do the book faults
(``/control/book-fault``): a skipped ``u``, a crossed delta, a lost snapshot.
"""

import asyncio
import json
from decimal import Decimal

from aiohttp import WSMsgType, web

from . import binance, bybit_ticks, intervals
from .bybit import KLINE_INTERVALS, LINEAR, SEED_OFFSET, SPOT, Invalid, base_coin, market, open_interest_at
from .connection import Connection, Sent
from .context import asset_ctx
from .market import decimal_text
from .state import STATE

SPOT_ARGS_PER_REQUEST = 10
ARGS_CHARACTERS = 21_000
FUNDING_EVERY = 8 * intervals.HOUR
BYBIT_NAMES = {kirby: bybit for bybit, kirby in KLINE_INTERVALS.items()}
BOOK_DEPTHS = {LINEAR: ("1", "50", "200", "500", "1000"), SPOT: ("1", "50", "200", "1000")}
# More book updates than this behind (a stalled loop, a jump of the clock): a fresh snapshot instead.
BOOK_CATCH_UP_STEPS = 1000


def dumps(value) -> str:
    return json.dumps(value, separators=(",", ":"))


def topic_problem(category: str, topic) -> str | None:
    """Why Bybit would refuse ``topic`` on ``category``'s stream, or None."""
    if not isinstance(topic, str):
        return f"error:handler not found,topic:{topic}"
    parts = topic.split(".")
    try:
        if parts[0] == "kline" and len(parts) == 3 and parts[1] in KLINE_INTERVALS:
            base_coin(parts[2])
            return None
        if parts[0] == "tickers" and len(parts) == 2 and category == LINEAR:
            base_coin(parts[1])
            return None
        if parts[0] == "publicTrade" and len(parts) == 2:
            base_coin(parts[1])
            return None
        if parts[0] == "orderbook" and len(parts) == 3 and parts[1] in BOOK_DEPTHS[category]:
            base_coin(parts[2])
            return None
    except Invalid:
        pass
    return f"error:handler not found,topic:{topic}"


def ticker_fields(seed: int, symbol: str, now_ms: int) -> dict:
    """The full ``tickers`` state of a linear perpetual at virtual ``now_ms`` (decimal strings)."""
    coin = base_coin(symbol)
    ctx = asset_ctx(seed + SEED_OFFSET[LINEAR], coin, now_ms)
    hour = now_ms - now_ms % intervals.HOUR
    both, single = open_interest_at(seed, coin, hour)
    mark = ctx["markPx"]
    return {
        "symbol": symbol,
        "markPrice": mark,
        "indexPrice": ctx["oraclePx"],
        "fundingRate": ctx["funding"],
        "nextFundingTime": str(now_ms - now_ms % FUNDING_EVERY + FUNDING_EVERY),
        "fundingIntervalHour": "8",
        "openInterest": both,
        "singleOpenInterest": single,
        "openInterestValue": decimal_text(Decimal(both) * Decimal(mark)),
        "volume24h": ctx["dayBaseVlm"],
        "turnover24h": ctx["dayNtlVlm"],
    }


class BybitStream:
    def __init__(self, state, category: str):
        self.state, self.category = state, category

    async def on_text(self, connection: Connection, text: str) -> None:
        try:
            message = json.loads(text)
        except ValueError:
            message = None
        if not isinstance(message, dict):
            await self._reply(connection, {}, False, f"error:invalid request: {text[:100]}", op="")
            return
        op = message.get("op")
        if op == "ping":
            if self.category == SPOT:
                now = str(self.state.clock.now_ms())
                await connection.send(dumps({"req_id": message.get("req_id", ""), "op": "pong", "args": [now],
                                             "conn_id": self._conn_id(connection)}))  # fmt: skip
            else:
                await self._reply(connection, message, True, "pong")
        elif op == "subscribe":
            await self._subscribe(connection, message)
        elif op == "unsubscribe":
            for topic in message.get("args") or []:
                connection.stop(topic)
                connection.subscriptions.pop(topic, None)
            await self._reply(connection, message, True, "")
        else:
            await self._reply(connection, message, False, f"error:unknown op {op}")

    def _conn_id(self, connection: Connection) -> str:
        return f"sim-{self.category}-{connection.id}"

    async def _reply(self, connection, message, success, ret_msg, op=None):
        reply = {"success": success, "ret_msg": ret_msg, "conn_id": self._conn_id(connection),
                 "req_id": message.get("req_id", ""), "op": message.get("op") if op is None else op}  # fmt: skip
        await connection.send(dumps(reply))

    async def _subscribe(self, connection: Connection, message: dict) -> None:
        args = message.get("args")
        if not isinstance(args, list) or not args:
            await self._reply(connection, message, False, "error:args is empty")
            return
        if self.category == SPOT and len(args) > SPOT_ARGS_PER_REQUEST:
            await self._reply(connection, message, False, f"args size >{SPOT_ARGS_PER_REQUEST}")
            return
        problems = [topic_problem(self.category, topic) for topic in args]
        problems += [f"error:already subscribed,topic:{t}" for t in args if t in connection.subscriptions]
        characters = sum(map(len, connection.subscriptions)) + sum(len(t) for t in args if isinstance(t, str))
        if characters > ARGS_CHARACTERS:
            problems.append(f"error:args length exceeds {ARGS_CHARACTERS} characters on this connection")
        problems = [p for p in problems if p]
        if problems:
            await self._reply(connection, message, False, "; ".join(problems))
            return
        for topic in args:
            connection.subscriptions[topic] = {"category": self.category, "topic": topic}
        await self._reply(connection, message, True, "subscribe" if self.category == SPOT else "")
        for topic in args:
            kind, *rest = topic.split(".")
            if kind == "kline":
                connection.start(topic, self._push_klines(connection, topic, KLINE_INTERVALS[rest[0]], rest[1]))
            elif kind == "publicTrade":
                connection.start(topic, self._push_trades(connection, topic, rest[0]))
            elif kind == "orderbook":
                connection.start(topic, self._push_book(connection, topic, int(rest[0]), rest[1]))
            else:
                connection.start(topic, self._push_tickers(connection, topic, rest[0]))

    def _kline(self, simulated, coin, interval, open_ms, now, confirm):
        o, h, low, c, v, _ = binance.kline(simulated, coin, interval, open_ms, until_ms=None if confirm else now)
        prices = {name: decimal_text(x) for name, x in (("open", o), ("close", c), ("high", h), ("low", low))}
        return {
            "start": open_ms, "end": intervals.close_time(interval, open_ms), "interval": BYBIT_NAMES[interval],
            **prices, "volume": decimal_text(v), "turnover": decimal_text(v * c), "confirm": confirm, "timestamp": now,
        }  # fmt: skip

    async def _push_klines(self, connection: Connection, topic: str, interval: str, symbol: str) -> None:
        simulated, coin, clock = market(self.state.config.seed, self.category), base_coin(symbol), self.state.clock
        current = None
        while True:
            now = clock.now_ms()
            open_ms = intervals.floor(interval, now)
            data = []
            if current is not None and open_ms != current:
                data.append(self._kline(simulated, coin, interval, current, now, True))
            current = open_ms
            data.append(self._kline(simulated, coin, interval, open_ms, now, False))
            async with connection.send_lock:
                for item in data:
                    frame = {"topic": topic, "data": [item], "ts": now, "type": "snapshot"}
                    await connection.send(dumps(frame), data=True)
            await asyncio.sleep(self.state.config.update_interval)

    async def _push_trades(self, connection: Connection, topic: str, symbol: str) -> None:
        seed, clock = self.state.config.seed, self.state.clock
        sent_until = clock.now_ms() + 1
        while True:
            await asyncio.sleep(self.state.config.update_interval)
            now = clock.now_ms()
            tape = await asyncio.to_thread(bybit_ticks.trades, seed, self.category, symbol, sent_until, now + 1)
            sent_until = now + 1
            if tape:
                frame = {"topic": topic, "type": "snapshot", "ts": now, "data": tape}
                async with connection.send_lock:
                    await connection.send(dumps(frame), data=True)

    def _book_frame(self, topic, kind, book):
        data = {k: book[k] for k in ("s", "b", "a", "u")}
        time_ms = book["u"] * bybit_ticks.BOOK_STEP_MS
        return dumps({"topic": topic, "type": kind, "ts": time_ms, "data": {**data, "seq": book["u"] * 7},
                      "cts": time_ms})  # fmt: skip

    async def _push_book(self, connection: Connection, topic: str, depth: int, symbol: str) -> None:
        """A snapshot of the true book, then one delta per book update since the last push."""
        seed, clock, faults = self.state.config.seed, self.state.clock, self.state.faults

        def book(step):
            return bybit_ticks.book(seed, self.category, symbol, step, depth)

        last = book(clock.now_ms() // bybit_ticks.BOOK_STEP_MS)
        if not faults.take_book_fault("bybit", "lost-snapshot"):
            async with connection.send_lock:
                await connection.send(self._book_frame(topic, "snapshot", last), data=True)
        while True:
            await asyncio.sleep(self.state.config.update_interval)
            step = clock.now_ms() // bybit_ticks.BOOK_STEP_MS
            if step - last["u"] > BOOK_CATCH_UP_STEPS:
                last = book(step)
                frames = [self._book_frame(topic, "snapshot", last)]
            else:
                frames = []
                while last["u"] < step:
                    current = book(last["u"] + 1)
                    change = bybit_ticks.delta(last, current)
                    last = current
                    if faults.take_book_fault("bybit", "gap"):
                        continue  # this update is never sent: the next u skips one
                    if faults.take_book_fault("bybit", "crossed"):  # a bid above the best ask: the book crosses
                        change["b"] = [*change["b"], [current["a"][0][0], "1"]]
                    frames.append(self._book_frame(topic, "delta", change))
            async with connection.send_lock:
                for frame in frames:
                    await connection.send(frame, data=True)

    async def _push_tickers(self, connection: Connection, topic: str, symbol: str) -> None:
        seed, last = self.state.config.seed, None
        while True:
            now = self.state.clock.now_ms()
            fields = ticker_fields(seed, symbol, now)
            if last is None:
                kind, data = "snapshot", fields
            else:
                kind, data = "delta", {"symbol": symbol, **{k: v for k, v in fields.items() if last.get(k) != v}}
            frame = dumps({"topic": topic, "type": kind, "data": data, "cs": now, "ts": now})
            async with connection.send_lock:
                sent = await connection.send(frame, data=True)
            if sent is Sent.SENT:
                last = fields
                self.state.log_ctx(f"bybit:{symbol}", fields)
            await asyncio.sleep(self.state.config.ctx_interval)


def _handler(category: str):
    async def websocket(request: web.Request) -> web.WebSocketResponse:
        state = request.app[STATE]
        ws = web.WebSocketResponse(timeout=1.0, compress=False)
        await ws.prepare(request)
        connection = Connection(state, ws, request.transport)
        state.connections[connection.id] = connection
        stream = BybitStream(state, category)
        try:
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    await stream.on_text(connection, message.data)
        finally:
            connection.stop_all()
            state.connections.pop(connection.id, None)
        return ws

    return websocket


def add_routes(app: web.Application) -> None:
    app.router.add_get("/v5/public/linear", _handler(LINEAR))
    app.router.add_get("/v5/public/spot", _handler(SPOT))
