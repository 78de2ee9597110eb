"""Binance's combined-stream WebSocket (EXCHANGES.md sections 2 and 3) over the deterministic market.

One protocol object per route: USD-M futures (``/market/stream``: klines, ``markPrice@1s``
and ``aggTrade``; ``/public/stream``: diff depth ``@depth@100ms``) and spot (``/stream``: all
of them but ``markPrice``). Depth events and the REST depth snapshots are ``binance_book``'s.
``SUBSCRIBE`` / ``UNSUBSCRIBE`` take lists of stream names and are acked
``{"result": null, "id": n}``; bad requests get ``{"error": {"code", "msg"}, "id"}``.
Pushes come in the envelope ``{"stream", "data"}``: the open kline repeatedly with ``x`` false,
and once its interval has ended the final kline with ``x`` true, then the next one. Klines are
the same as the simulated REST klines (``binance.kline``: a minute without trades is a
zero-volume kline), so live and history agree. The venue's rules are enforced: at most
``MAX_STREAMS`` streams per connection (an error), more client messages per second than the
market allows closes the connection, the server pings (the WebSocket heartbeat) and drops a
client that does not pong, and every connection is closed at its maximum age (Binance's
24 hours, compressed: ``binance_connection_seconds``).
"""

import asyncio
import json
import re
import time
from collections import deque

from aiohttp import WSCloseCode

from . import binance, binance_book, intervals
from .connection import Connection, Sent
from .context import asset_ctx
from .hyperliquid import flood_states
from .market import decimal_text

MAX_STREAMS = 1024
MESSAGES_PER_SECOND = {binance.USDM: 10, binance.SPOT: 5}
FUNDING_HOURS = 8
KLINE = re.compile(r"^([a-z0-9]+)@kline_([0-9]+[a-zA-Z])$")
MARK_PRICE = re.compile(r"^([a-z0-9]+)@markPrice(@1s)?$")
PATHS = {binance.USDM: "/market/stream", binance.SPOT: "/stream"}
AGG_TRADE = re.compile(r"^([a-z0-9]+)@aggTrade$")
DEPTH = re.compile(r"^([a-z0-9]+)@depth(@100ms|@500ms)?$")
# USD-M's high-frequency route: depth only (klines, markPrice and aggTrade stay on /market).
PUBLIC, PUBLIC_PATH = "public", "/public/stream"


def dumps(value) -> str:
    return json.dumps(value, separators=(",", ":"))


def kline_payload(market, symbol, interval, open_ms, now_ms, closed):
    """The ``data`` of a kline push: the kline as of ``now_ms`` (all of it when ``closed``)."""
    o, h, low, c, v, n = binance.kline(
        market, binance.base_coin(symbol), interval, open_ms, until_ms=None if closed else now_ms
    )
    k = {
        "t": open_ms, "T": intervals.close_time(interval, open_ms), "s": symbol, "i": interval, "f": 0, "L": 0,
        "o": decimal_text(o), "c": decimal_text(c), "h": decimal_text(h), "l": decimal_text(low),
        "v": decimal_text(v), "n": n, "x": closed, "q": "0", "V": "0", "Q": "0", "B": "0",
    }  # fmt: skip
    return {"e": "kline", "E": now_ms, "s": symbol, "k": k}


def mark_price_payload(seed, symbol, now_ms):
    """``markPriceUpdate`` from the same context Hyperliquid's simulator uses (mark, oracle as index, funding)."""
    ctx = asset_ctx(seed, binance.base_coin(symbol), now_ms)
    period = FUNDING_HOURS * intervals.HOUR
    return {
        "e": "markPriceUpdate", "E": now_ms, "s": symbol, "p": ctx["markPx"], "i": ctx["oraclePx"],
        "P": ctx["markPx"], "r": ctx["funding"], "T": (now_ms // period + 1) * period,
    }  # fmt: skip


def open_interest(seed, symbol, now_ms):
    """``GET /fapi/v1/openInterest``'s body at ``now_ms``."""
    ctx = asset_ctx(seed, binance.base_coin(symbol), now_ms)
    return {"symbol": symbol, "openInterest": ctx["openInterest"], "time": now_ms}


class BinanceStreams:
    """One route: USD-M ``/market`` (``route`` None), USD-M ``/public`` (``route`` PUBLIC) or spot's one endpoint.

    A stream subscribed on the wrong USD-M route is acked and never pushed, as on Binance.
    """

    def __init__(self, state, market: str, route=None):
        self.state, self.market, self.route = state, market, route
        self.name = f"binance-{market}" + (f"-{route}" if route else "")
        self.path = PUBLIC_PATH if route == PUBLIC else PATHS[market]
        self.prices = binance.market_for(state.config.seed, market)

    def _serves(self, stream) -> bool:
        """Whether this route pushes ``stream`` (spot serves everything; USD-M splits depth onto /public)."""
        if self.market == binance.SPOT:
            return True
        return bool(DEPTH.match(stream)) == (self.route == PUBLIC)

    def stream_problem(self, stream) -> str | None:
        if not isinstance(stream, str):
            return f"Invalid request: stream name must be a string: {dumps(stream)}"
        kline = KLINE.match(stream)
        if kline and intervals.is_interval(kline.group(2)):
            return None
        if self.market == binance.USDM and MARK_PRICE.match(stream):
            return None
        if AGG_TRADE.match(stream) or DEPTH.match(stream):
            return None
        return f"Invalid request: unknown stream {stream}"

    async def on_open(self, connection: Connection) -> None:
        connection.incoming = deque()
        connection.start("max-age", self._close_at_max_age(connection))

    async def _close_at_max_age(self, connection: Connection) -> None:
        await asyncio.sleep(self.state.config.binance_connection_seconds)
        self.state.binance_forced_closes += 1
        connection.stop_all()
        await connection.ws.close(code=WSCloseCode.GOING_AWAY, message=b"connection reached 24 hours")

    async def on_text(self, connection: Connection, text: str) -> None:
        now = time.monotonic()
        connection.incoming.append(now)
        while connection.incoming and connection.incoming[0] <= now - 1.0:
            connection.incoming.popleft()
        if len(connection.incoming) > MESSAGES_PER_SECOND[self.market]:
            self.state.binance_rate_closes += 1
            connection.stop_all()
            await connection.ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"too many messages")
            return
        try:
            message = json.loads(text)
        except ValueError:
            message = None
        if not isinstance(message, dict):
            await self._error(connection, None, 3, "Invalid JSON: expected an object")
            return
        request_id, method, params = message.get("id"), message.get("method"), message.get("params")
        if method not in ("SUBSCRIBE", "UNSUBSCRIBE", "LIST_SUBSCRIPTIONS"):
            await self._error(connection, request_id, 2, f"Invalid request: unknown method {dumps(method)}")
            return
        if method == "LIST_SUBSCRIPTIONS":
            await connection.send(dumps({"result": sorted(connection.subscriptions), "id": request_id}))
            return
        if not isinstance(params, list) or not params:
            await self._error(connection, request_id, 2, "Invalid request: params must be a list of streams")
            return
        problem = next((p for p in map(self.stream_problem, params) if p), None)
        if problem:
            await self._error(connection, request_id, 2, problem)
            return
        if method == "SUBSCRIBE":
            new = [stream for stream in params if stream not in connection.subscriptions]
            if len(connection.subscriptions) + len(new) > MAX_STREAMS:
                await self._error(connection, request_id, 2, f"Invalid request: more than {MAX_STREAMS} streams")
                return
            await connection.send(dumps({"result": None, "id": request_id}))
            for stream in new:
                connection.subscriptions[stream] = {"stream": stream}
                connection.start(stream, self._push(connection, stream))
        else:
            for stream in params:
                connection.stop(stream)
                connection.subscriptions.pop(stream, None)
            await connection.send(dumps({"result": None, "id": request_id}))

    async def _error(self, connection, request_id, code, msg) -> None:
        await connection.send(dumps({"error": {"code": code, "msg": msg}, "id": request_id}))

    def _push(self, connection, stream):
        if not self._serves(stream):
            return asyncio.sleep(0)  # wrong route: no data and no error
        kline = KLINE.match(stream)
        if kline:
            return self._push_klines(connection, stream, kline.group(1).upper(), kline.group(2))
        if AGG_TRADE.match(stream):
            return self._push_agg_trades(connection, stream, AGG_TRADE.match(stream).group(1).upper())
        if DEPTH.match(stream):
            return self._push_depth(connection, stream, DEPTH.match(stream).group(1).upper())
        return self._push_mark_price(connection, stream, MARK_PRICE.match(stream).group(1).upper())

    async def _send(self, connection, stream, data) -> Sent:
        return await connection.send(dumps({"stream": stream, "data": data}), data=True)

    async def _push_klines(self, connection, stream, symbol, interval) -> None:
        """Push the open kline; once it has ended, push it final (``x`` true), then the next one."""
        clock, current = self.state.clock, None
        while True:
            now = clock.now_ms()
            open_ms = intervals.floor(interval, now)
            async with connection.send_lock:
                if current is not None and open_ms != current:
                    await self._send(
                        connection, stream, kline_payload(self.prices, symbol, interval, current, now, True)
                    )
                current = open_ms
                await self._send(connection, stream, kline_payload(self.prices, symbol, interval, open_ms, now, False))
            await asyncio.sleep(self.state.config.update_interval)

    async def _push_agg_trades(self, connection, stream, symbol) -> None:
        """Each trade once its virtual time has come, one frame each; nothing from before the subscription."""
        clock, sent_until = self.state.clock, self.state.clock.now_ms()
        while True:
            await asyncio.sleep(self.state.config.update_interval)
            now = clock.now_ms()
            trades = binance.trade_tape(self.prices, symbol, sent_until, now + 1)
            async with connection.send_lock:
                for trade in trades:
                    await self._send(connection, stream, {**trade, "E": now})
            sent_until = now + 1

    async def _push_depth(self, connection, stream, symbol) -> None:
        """Diff-depth events (binance_book) on one grid of blocks for every connection, about one a push.

        Events are the venue's, not the connection's: two connections get the same events with the same
        ids, each from its subscription on. Faults (``/control/book-fault`` for this market): ``gap``
        skips one event, ``crossed`` puts a bid above the best ask into one.
        """
        clock, seed, coin = self.state.clock, self.prices.seed, binance.base_coin(symbol)
        venue, faults, config = f"binance-{self.market}", self.state.faults, self.state.config
        grid = max(1, round(config.update_interval * config.speed * 1000 / binance_book.BLOCK_MS))
        last = binance_book.block_of(clock.now_ms()) // grid * grid
        while True:
            await asyncio.sleep(config.update_interval)
            now = clock.now_ms()
            edge = binance_book.block_of(now) // grid * grid
            for start in range(last, edge, grid):
                if faults.take_book_fault(venue, "gap"):
                    continue  # never sent: the next event does not chain
                cross = faults.take_book_fault(venue, "crossed")
                data = binance_book.depth_event(seed, coin, symbol, start, start + grid, now,
                                                self.market == binance.USDM, cross)  # fmt: skip
                async with connection.send_lock:
                    await self._send(connection, stream, data)
            last = max(last, edge)

    async def _push_mark_price(self, connection, stream, symbol) -> None:
        while True:
            payload = mark_price_payload(self.state.config.seed, symbol, self.state.clock.now_ms())
            async with connection.send_lock:
                sent = await self._send(connection, stream, payload)
            if sent is Sent.SENT:
                self.state.log_ctx(f"binance:{symbol}", payload)
            await asyncio.sleep(self.state.config.ctx_interval)

    async def flood(self, coin: str, interval: str, messages: int) -> dict:
        """Burst ``messages`` updates of ``coin``USDT's open kline to its subscribers (as Hyperliquid's flood)."""
        symbol = f"{coin}USDT"
        stream = f"{symbol.lower()}@kline_{interval}"
        targets = [c for c in self.state.connections.values() if stream in c.subscriptions]
        now = self.state.clock.now_ms()
        open_ms = intervals.floor(interval, now)
        states = flood_states(self.prices.tick_states(coin, interval, open_ms, now, messages), messages)
        frames = []
        for candle in states:
            k = {
                "t": open_ms, "T": candle.close_time, "s": symbol, "i": interval, "f": 0, "L": 0,
                "o": decimal_text(candle.open), "c": decimal_text(candle.close), "h": decimal_text(candle.high),
                "l": decimal_text(candle.low), "v": decimal_text(candle.volume), "n": candle.trades, "x": False,
                "q": "0", "V": "0", "Q": "0", "B": "0",
            }  # fmt: skip
            frames.append(dumps({"stream": stream, "data": {"e": "kline", "E": now, "s": symbol, "k": k}}))
        started = time.monotonic()

        async def burst(connection: Connection) -> None:
            async with connection.send_lock:
                for frame in frames:
                    await connection.send(frame, data=True)

        await asyncio.gather(*(burst(connection) for connection in targets))
        return {"sent": len(frames) if targets else 0, "connections": len(targets),
                "seconds": time.monotonic() - started, "virtual_time_ms": now}  # fmt: skip
