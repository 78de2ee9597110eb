"""Coinbase Advanced Trade's public REST candles (EXCHANGES.md section 6.3) over the deterministic trade tape.

``GET /api/v3/brokerage/market/products/{product_id}/candles?start&end&
granularity`` answers ``{"candles": [{"start", "low", "high", "open",
"close", "volume"}]}``: every value a string, ``start`` in unix seconds,
newest first, only intervals with trades (Coinbase leaves empty ones out),
candles starting in ``[start, end]`` (seconds), nothing after virtual now
(the current candle partial), at most 350 of them (a wider range is refused
with 400, as Coinbase refuses it). Granularity is accepted in either case
(the SDK lower-cases it). The candles are aggregations of exactly the
trades the WebSocket's ``market_trades`` sends (``coinbase_ws``), so candles
built from the stream must equal them.

Simulator-only: the shared rest-429 fault; every call lands in the shared
REST log (``GET /control/rest-log``); ``POST /control/coinbase/rest-skew``
``{"every": n}`` makes REST one-minute candles of every n-th minute
(minute index divisible by n) report ``SKEW`` more volume than the tape
traded, so a test can watch REST win over the built candle (0 switches it
off); ``POST /control/coinbase/sequence-gap`` ``{"count": n}`` loses the
next n messages of every open WebSocket (their ``sequence_num`` is used
up, so the client sees the jump).
"""

from decimal import Decimal

from aiohttp import web

from apps.markets import intervals

from .market import Market, _range, decimal_text, profile
from .state import STATE

SEED_OFFSET = 5_000_011
GRANULARITIES = {
    "ONE_MINUTE": "1m", "FIVE_MINUTE": "5m", "FIFTEEN_MINUTE": "15m", "THIRTY_MINUTE": "30m", "ONE_HOUR": "1h",
    "TWO_HOUR": "2h", "SIX_HOUR": "6h", "ONE_DAY": "1d",
}  # fmt: skip
MAX_CANDLES = 350
SKEW = Decimal("0.5")
CANDLES_PATH = "/api/v3/brokerage/market/products/{product_id}/candles"

REST_SKEW = web.AppKey("coinbase_rest_skew", dict)


class Invalid(Exception):
    pass


def market(seed):
    return Market(seed + SEED_OFFSET)


def base_coin(product):
    base, dash, quote = product.partition("-")
    if not dash or not base or not quote or not base.isalnum():
        raise Invalid(f"unknown product id {product!r}")
    return base


MINUTE = 60_000


def skewed(every, open_ms, interval):
    return every > 0 and interval == "1m" and (open_ms // MINUTE) % every == 0


def aggregate(simulated, coin, interval, open_ms, now_ms=None):
    """(open, high, low, close, volume) of the tape's trades in the candle (until ``now_ms``), or None.

    Kirby's interval arithmetic, so that six-hour candles (which Hyperliquid's simulated intervals lack) exist.
    """
    end = intervals.shift(interval, open_ms, 1)
    agg = _range(simulated.seed, coin, open_ms, end if now_ms is None else min(end, now_ms))
    if agg is None:
        return None
    p = profile(coin)
    o, h, low, c, v, _ = agg
    return p.price(o), p.price(h), p.price(low), p.price(c), p.size(v)


def candle_row(simulated, coin, interval, open_ms, now_ms, every=0):
    """The REST candle opening at ``open_ms`` as of ``now_ms``, or None when it has no trades (yet)."""
    values = aggregate(simulated, coin, interval, open_ms, now_ms)
    if values is None:
        return None
    o, h, low, c, v = values
    volume = v + SKEW if skewed(every, open_ms, interval) else v
    return {"start": str(open_ms // 1000), "low": decimal_text(low), "high": decimal_text(h),
            "open": decimal_text(o), "close": decimal_text(c), "volume": decimal_text(volume)}  # fmt: skip


def candles(state, app, product, query):
    coin = base_coin(product)
    interval = GRANULARITIES.get(str(query.get("granularity", "")).upper())
    if interval is None:
        raise Invalid(f"granularity must be one of {', '.join(GRANULARITIES)}")
    try:
        start, end = int(query["start"]) * 1000, int(query["end"]) * 1000
    except (KeyError, ValueError):
        raise Invalid("start and end (unix seconds) are required") from None
    if end < start:
        raise Invalid("end is before start")
    first = intervals.floor(interval, start)
    first = first if first >= start else intervals.shift(interval, first, 1)
    if first <= end and intervals.floor(interval, end) >= intervals.shift(interval, first, MAX_CANDLES):
        raise Invalid(f"number of candles requested should be less than or equal to {MAX_CANDLES}")
    now, every, simulated, rows = state.clock.now_ms(), app[REST_SKEW].get("every", 0), market(state.config.seed), []
    t = intervals.floor(interval, min(end, now))
    while t >= first:
        row = candle_row(simulated, coin, interval, t, now, every)
        if row is not None:
            rows.append(row)
        t = intervals.shift(interval, t, -1)
    return {"candles": rows}


def truth_candles(seed, product, interval, start_ms, end_ms):
    """Every complete candle with trades opening in ``[start, end)``: (open_ms, o, h, l, c, v), ascending."""
    simulated, coin, rows = market(seed), base_coin(product), []
    t = intervals.floor(interval, start_ms)
    t = t if t >= start_ms else intervals.shift(interval, t, 1)
    while t < end_ms:
        values = aggregate(simulated, coin, interval, t)
        if values is not None:
            rows.append((t, *values))
        t = intervals.shift(interval, t, 1)
    return rows


async def _candles(request: web.Request) -> web.Response:
    state = request.app[STATE]
    query = dict(request.query)
    if state.faults.take_rest_429():
        state.log_rest(request.path, query, 429, 1)
        return web.json_response({"error": "RATE_LIMIT_EXCEEDED", "message": "Too many requests"}, status=429,
                                 headers={"Retry-After": "1"})  # fmt: skip
    try:
        body = candles(state, request.app, request.match_info["product_id"], query)
    except Invalid as error:
        state.log_rest(request.path, query, 400, 1)
        return web.json_response({"error": "INVALID_ARGUMENT", "message": str(error)}, status=400)
    state.log_rest(request.path, query, 200, 1)
    return web.json_response(body)


async def _rest_skew(request: web.Request) -> web.Response:
    body = await request.json()
    every = body.get("every") if isinstance(body, dict) else None
    if isinstance(every, bool) or not isinstance(every, int) or every < 0:
        return web.json_response({"error": "every (a whole number, 0 = off) is required"}, status=400)
    request.app[REST_SKEW]["every"] = every
    return web.json_response({"every": every})


def add_routes(app: web.Application) -> None:
    app[REST_SKEW] = {}
    app.router.add_get(CANDLES_PATH, _candles)
    app.router.add_post("/control/coinbase/rest-skew", _rest_skew)
