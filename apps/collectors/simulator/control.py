"""Control and truth endpoints: how tests and demos inject faults and check what was sent.

Everything is JSON over plain HTTP so a test in another process (or ``curl``) can drive the
simulator. None of this exists on a real exchange; it lives under ``/control`` and ``/truth``.
"""

import asyncio
import json
from functools import partial

from aiohttp import web

from . import binance, bybit, bybit_ticks, coinbase_ws, intervals, ticks
from .faults import VENUE_BOOK_FAULTS
from .state import STATE


class Invalid(Exception):
    pass


async def _body(request: web.Request) -> dict:
    text = await request.text()
    if not text.strip():
        return {}
    try:
        body = json.loads(text)
    except ValueError as error:
        raise Invalid(f"body is not JSON: {error}") from None
    if not isinstance(body, dict):
        raise Invalid("body must be a JSON object")
    return body


def _number(body: dict, name: str, kind=int, minimum=0):
    value = body.get(name)
    allowed = (int, float) if kind is float else (int,)
    if isinstance(value, bool) or not isinstance(value, allowed) or value < minimum:
        raise Invalid(f"{name} must be a number >= {minimum}")
    return value


def _query_int(query, name: str, default=None) -> int:
    text = query.get(name)
    if text is None and default is not None:
        return default
    try:
        return int(text)
    except (TypeError, ValueError):
        raise Invalid(f"{name} must be an integer") from None


def _interval(source) -> str:
    interval = source.get("interval")
    if not intervals.is_interval(interval):
        raise Invalid(f"interval must be one of {' '.join(intervals.INTERVALS)}")
    return interval


def _coin(source) -> str:
    coin = source.get("coin")
    if not isinstance(coin, str) or not coin:
        raise Invalid("coin is required")
    return coin


def endpoint(handler):
    """Parse, validate and answer JSON; validation problems become HTTP 400 with a reason."""

    async def wrapped(request: web.Request) -> web.Response:
        try:
            result = await handler(request.app[STATE], request)
        except Invalid as problem:
            return web.json_response({"error": str(problem)}, status=400)
        return web.json_response(result)

    return wrapped


@endpoint
async def drop(state, request):
    """Abort every socket at the TCP level, so clients see a dropped connection (1006), not a close."""
    connections = list(state.connections.values())
    for connection in connections:
        connection.abort()
    return {"dropped": len(connections)}


@endpoint
async def silence(state, request):
    """Send nothing at all (no data, acks, pongs or greetings) for ``seconds``; sockets stay open."""
    seconds = _number(await _body(request), "seconds", kind=float)
    state.faults.silence(seconds)
    return {"silent_for": seconds}


@endpoint
async def malformed(state, request):
    """Each open connection gets ``count`` broken data frames; with none open, the next one to connect does."""
    count = _number(await _body(request), "count")
    connections = list(state.connections.values())
    for connection in connections:
        connection.malformed_remaining = count
    if not connections:
        state.faults.pending_malformed = count
    return {"count": count, "connections": len(connections)}


@endpoint
async def rest_429(state, request):
    count = _number(await _body(request), "count")
    state.faults.rest_429_remaining = count
    return {"count": count}


@endpoint
async def book_fault(state, request):
    """Break the next ``count`` book events of ``venue`` (default ``any``: the next of any venue) one way:
    ``gap`` (an event skipped), ``crossed``, ``lost-snapshot`` (no snapshot: REST fails, or the pushed
    one is withheld), ``stale-snapshot`` (REST answers an old one). Venues and their kinds: ``VENUE_BOOK_FAULTS``."""
    body = await _body(request)
    count, venue, kind = _number(body, "count"), body.get("venue", "any"), body.get("kind")
    if not isinstance(venue, str) or venue not in VENUE_BOOK_FAULTS:
        raise Invalid(f"venue must be one of {' '.join(VENUE_BOOK_FAULTS)}")
    if kind not in VENUE_BOOK_FAULTS[venue]:
        raise Invalid(f"kind must be one of {' '.join(VENUE_BOOK_FAULTS[venue])} for {venue}")
    state.faults.book_faults[(venue, kind)] = count
    return {"venue": venue, "kind": kind, "count": count}


@endpoint
async def flood(state, request):
    body = await _body(request)
    messages, coin, interval = _number(body, "messages", minimum=1), _coin(body), _interval(body)
    venue = body.get("venue", "hyperliquid")
    if venue not in state.protocols:
        raise Invalid(f"venue must be one of {' '.join(state.protocols)}")
    return await state.protocols[venue].flood(coin, interval, messages)


@endpoint
async def stats(state, request):
    connections = state.connections.values()
    return {
        "connections": len(connections),
        "subscriptions": [sub for connection in connections for sub in connection.subscriptions.values()],
        "frames_sent": state.frames_sent,
        "virtual_now_ms": state.clock.now_ms(),
        "binance_forced_closes": state.binance_forced_closes,
        "binance_rate_closes": state.binance_rate_closes,
    }


@endpoint
async def ctx_log(state, request):
    coin = request.query.get("coin")
    return [entry for entry in state.ctx_log if coin is None or entry["coin"] == coin]


@endpoint
async def frames(state, request):
    limit = _query_int(request.query, "limit", default=len(state.frames))
    return list(state.frames)[-limit:] if limit > 0 else []


@endpoint
async def rest_log(state, request):
    """Every REST request answered (or refused) since the last reset: path, query, status, Binance weight."""
    return list(state.rest_log)


@endpoint
async def reset(state, request):
    state.reset()
    return {"reset": True}


@endpoint
async def truth_candles(state, request):
    """Closed candles only: the end is cut at the open candle of virtual now."""
    query = request.query
    coin, interval = _coin(query), _interval(query)
    start, end = _query_int(query, "start"), _query_int(query, "end")
    end = min(end, intervals.floor(interval, state.clock.now_ms()))
    candles = await asyncio.to_thread(state.market.candles, coin, interval, start, end)
    return [candle.to_wire() for candle in candles]


# Each venue's trades and books: exchange -> (trades(state, coin, start, end), book(state, coin, time)),
# registered here or by the venue's module; ``coin`` is the venue's own name of the series.
TICK_TRUTHS = {
    "hyperliquid": (
        lambda state, coin, start, end: ticks.trades(state.market, coin, start, end),
        lambda state, coin, moment: ticks.book(state.market, coin, moment),
    ),
}


def _bybit_series(coin):
    """``linear:BTCUSDT`` -> (category, symbol): Bybit's truth is named as the collector names the series."""
    category, _, symbol = coin.partition(":")
    if category not in bybit.SEED_OFFSET or not symbol:
        raise Invalid("coin must be category:SYMBOL for bybit (linear:BTCUSDT)")
    return category, symbol


TICK_TRUTHS["bybit"] = (
    lambda state, coin, start, end: bybit_ticks.trades(state.config.seed, *_bybit_series(coin), start, end),
    lambda state, coin, moment: bybit_ticks.book_at(state.config.seed, *_bybit_series(coin), moment),
)


def _coinbase_product(product):
    try:
        coinbase_ws.base_coin(product)
    except coinbase_ws.Invalid as problem:
        raise Invalid(f"coin: {problem}") from None
    return product


# Coinbase's trades with the taker's side (see coinbase_ws).
TICK_TRUTHS["coinbase"] = (
    lambda state, coin, start, end: coinbase_ws.truth_trades(state.config.seed, _coinbase_product(coin), start, end),
    lambda state, coin, moment: coinbase_ws.truth_book(state.config.seed, _coinbase_product(coin), moment),
)


def _binance_trades(market, state, symbol, start, end):
    try:
        return binance.trade_tape(binance.market_for(state.config.seed, market), symbol, start, end)
    except binance.Invalid as error:
        raise Invalid(error.msg) from None


def _binance_book(market, state, symbol, moment):
    try:
        return binance.book_truth(state, market, symbol, moment)
    except binance.Invalid as error:
        raise Invalid(error.msg) from None


# Binance's by market (``coin`` is then the symbol, ``BTCUSDT``).
for _market in ("usdm", "spot"):
    TICK_TRUTHS[f"binance-{_market}"] = (partial(_binance_trades, _market), partial(_binance_book, _market))


def _tick_truth(query, which):
    exchange = query.get("exchange", "hyperliquid")
    if exchange not in TICK_TRUTHS:
        raise Invalid(f"exchange must be one of {' '.join(TICK_TRUTHS)}")
    return TICK_TRUTHS[exchange][which]


@endpoint
async def truth_trades(state, request):
    """Every trade of ``[start, end)`` (virtual ms) of a coin, as the venue's feed sends it (``exchange``,
    default hyperliquid)."""
    query = request.query
    coin, start, end = _coin(query), _query_int(query, "start"), _query_int(query, "end")
    end = min(end, state.clock.now_ms() + 1)
    return await asyncio.to_thread(_tick_truth(query, 0), state, coin, start, end)


@endpoint
async def truth_book(state, request):
    """The book of the block holding ``time`` (virtual ms), as the venue sends it (``exchange``)."""
    return _tick_truth(request.query, 1)(state, _coin(request.query), _query_int(request.query, "time"))


def add_routes(app: web.Application) -> None:
    app.router.add_post("/control/drop", drop)
    app.router.add_post("/control/silence", silence)
    app.router.add_post("/control/malformed", malformed)
    app.router.add_post("/control/rest-429", rest_429)
    app.router.add_post("/control/flood", flood)
    app.router.add_post("/control/book-fault", book_fault)
    app.router.add_get("/control/stats", stats)
    app.router.add_get("/control/ctx-log", ctx_log)
    app.router.add_get("/control/frames", frames)
    app.router.add_get("/control/rest-log", rest_log)
    app.router.add_post("/control/reset", reset)
    app.router.add_get("/truth/candles", truth_candles)
    app.router.add_get("/truth/trades", truth_trades)
    app.router.add_get("/truth/book", truth_book)
