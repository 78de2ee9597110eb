"""Bybit V5's public REST history (EXCHANGES.md section 4.3) over the deterministic markets.

``GET /v5/market/kline`` (at most 1000 rows), ``/v5/market/funding/history``
(at most 200, linear only, ``startTime`` alone refused) and
``/v5/market/open-interest`` (at most 200, cursor-paged) answer as Bybit
does: ``{"retCode": 0, "retMsg": "OK", "result": {..., "list": [...]}}``,
rows newest first, every number and time a string, the newest ``limit``
rows of the asked range, nothing past virtual now (the current kline
partial). Every interval has a kline, at the last price with zero volume
when nothing traded. Linear and spot of one coin are different markets
(other seeds than Hyperliquid's and Binance's), so a client that asks the
wrong category or venue gets visibly wrong data. Funding settles every 8
hours; open interest is reported both sides (``openInterest``) and one side
(``singleOpenInterest``).

Simulator-only: a symbol's listing time (``POST /control/bybit/listing``;
nothing exists before it), the request log every REST call lands in
(``GET /control/bybit/requests``, to assert budgets from), and the shared
rest-429 fault, answered as HTTP 429 with retCode 10006.
"""

import time
from collections import deque
from decimal import Decimal

from aiohttp import web

from . import binance, intervals
from .context import asset_ctx, funding_rate
from .market import Market, decimal_text
from .state import STATE

LINEAR, SPOT = "linear", "spot"
SEED_OFFSET = {LINEAR: 2_000_003, SPOT: 3_000_017}
QUOTES = ("USDT", "USDC")
KLINE_INTERVALS = {
    "1": "1m", "3": "3m", "5": "5m", "15": "15m", "30": "30m", "60": "1h", "120": "2h", "240": "4h",
    "720": "12h", "D": "1d", "M": "1M",
}  # fmt: skip
OI_PERIODS = {"5min": "5m", "15min": "15m", "30min": "30m", "1h": "1h", "4h": "4h", "1d": "1d"}
FUNDING_EVERY = 8 * intervals.HOUR
# (default, maximum) rows per answer; trades: /v5/market/recent-trade, served by bybit_ticks.
LIMITS = {"kline": (200, 1000), "funding": (200, 200), "oi": (50, 200), "linear-trades": (500, 1000),
          "spot-trades": (60, 60)}  # fmt: skip
REQUEST_LOG_SIZE = 100_000
RETRY_AFTER_MS = 1000

REQUESTS = web.AppKey("bybit_requests", deque)
LISTINGS = web.AppKey("bybit_listings", dict)


class Invalid(Exception):
    def __init__(self, message, code=10001):
        super().__init__(message)
        self.code = code


def market(seed, category):
    return Market(seed + SEED_OFFSET[category])


def base_coin(symbol):
    for quote in QUOTES:
        if isinstance(symbol, str) and symbol.endswith(quote) and len(symbol) > len(quote):
            return symbol[: -len(quote)]
    raise Invalid("params error: symbol invalid", 10001)


def _category(query, allowed=(LINEAR, SPOT)):
    category = query.get("category")
    if category not in allowed:
        raise Invalid(f"params error: category must be one of {', '.join(allowed)}")
    return category


def _int(query, name):
    raw = query.get(name)
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        raise Invalid(f"params error: {name} must be an integer") from None


def _limit(query, kind):
    default, maximum = LIMITS[kind]
    limit = _int(query, "limit")
    limit = default if limit is None else limit
    if not 1 <= limit <= maximum:
        raise Invalid(f"params error: limit must be in [1, {maximum}]")
    return limit


def _series(app, query):
    category = _category(query)
    symbol = query.get("symbol")
    coin = base_coin(symbol)
    return category, symbol, coin, app[LISTINGS].get((category, symbol), 0)


def _slots(interval, first, last, limit):
    """Open times of ``interval`` in ``[first, last]``, the newest ``limit``, newest first."""
    if last < first:
        return []
    t, slots = intervals.floor(interval, last), []
    while t >= first and len(slots) < limit:
        slots.append(t)
        t = intervals.shift(interval, t, -1)
    return slots


def _first_slot(interval, t):
    slot = intervals.floor(interval, t)
    return slot if slot >= t else intervals.next_start(interval, slot)


def klines(state, app, query):
    category, symbol, coin, listed = _series(app, query)
    interval = KLINE_INTERVALS.get(query.get("interval"))
    if interval is None:
        raise Invalid("params error: invalid interval")
    limit, now = _limit(query, "kline"), state.clock.now_ms()
    current = intervals.floor(interval, now)
    end = min(_int(query, "end") if "end" in query else now, now)
    start = _int(query, "start") if "start" in query else 0
    first = max(_first_slot(interval, start), _first_slot(interval, listed))
    simulated, rows = market(state.config.seed, category), []
    for t in _slots(interval, first, end, limit):
        o, h, low, c, v, _ = binance.kline(simulated, coin, interval, t, until_ms=now if t == current else None)
        turnover = decimal_text(v * c)
        rows.append([str(t), *(decimal_text(x) for x in (o, h, low, c, v)), turnover])
    return {"symbol": symbol, "category": category, "list": rows}


def funding_rate_at(seed, coin, t_ms):
    return funding_rate(seed + SEED_OFFSET[LINEAR], coin, t_ms)[0]


def funding(state, app, query):
    if query.get("category") != LINEAR:
        raise Invalid("params error: category only support linear or inverse")
    category, symbol, coin, listed = _series(app, query)
    start, end = _int(query, "startTime"), _int(query, "endTime")
    if start is not None and end is None:
        raise Invalid("params error: startTime without endTime")
    limit, now = _limit(query, "funding"), state.clock.now_ms()
    end = now if end is None else min(end, now)
    first = max(start or 0, listed)
    t = end - end % FUNDING_EVERY
    rows = []
    while t >= first and len(rows) < limit:
        rows.append({"symbol": symbol, "fundingRate": funding_rate_at(state.config.seed, coin, t),
                     "fundingRateTimestamp": str(t)})  # fmt: skip
        t -= FUNDING_EVERY
    return {"category": category, "list": rows}


def open_interest_at(seed, coin, t_ms):
    """(both sides, one side) as decimal strings: one side is the simulated market's open interest."""
    single = asset_ctx(seed + SEED_OFFSET[LINEAR], coin, t_ms)["openInterest"]
    return decimal_text(Decimal(single) * 2), single


def open_interest(state, app, query):
    if query.get("category") != LINEAR:
        raise Invalid("params error: category only support linear or inverse")
    category, symbol, coin, listed = _series(app, query)
    interval = OI_PERIODS.get(query.get("intervalTime"))
    if interval is None:
        raise Invalid("params error: invalid intervalTime")
    limit, now = _limit(query, "oi"), state.clock.now_ms()
    end = min(_int(query, "endTime") if "endTime" in query else now, now)
    cursor = query.get("cursor")
    if cursor:
        end = min(end, _int({"cursor": cursor}, "cursor") - 1)
    first = max(_first_slot(interval, _int(query, "startTime") or 0), _first_slot(interval, listed))
    # A period's open interest is known once the period has begun (Bybit stamps it at the period's start).
    slots = _slots(interval, first, end, limit + 1)
    rows = []
    for t in slots[:limit]:
        both, single = open_interest_at(state.config.seed, coin, t)
        rows.append({"openInterest": both, "singleOpenInterest": single, "timestamp": str(t)})
    next_cursor = str(slots[limit - 1]) if len(slots) > limit else ""
    return {"symbol": symbol, "category": category, "list": rows, "nextPageCursor": next_cursor}


def truth_klines(seed, category, symbol, interval, start_ms, end_ms, listed_ms=0):
    """Every complete kline with open time in ``[max(start, listing), end)``: (open_ms, o, h, l, c, v), ascending."""
    simulated, coin = market(seed, category), base_coin(symbol)
    t, rows = max(_first_slot(interval, start_ms), _first_slot(interval, listed_ms)), []
    while t < end_ms:
        rows.append((t, *binance.kline(simulated, coin, interval, t)[:5]))
        t = intervals.next_start(interval, t)
    return rows


def truth_funding(seed, symbol, start_ms, end_ms, listed_ms=0):
    """Every settlement in ``[max(start, listing), end)`` as (time_ms, rate text), ascending."""
    coin, t = base_coin(symbol), max(start_ms, listed_ms)
    t += -t % FUNDING_EVERY
    rows = []
    while t < end_ms:
        rows.append((t, funding_rate_at(seed, coin, t)))
        t += FUNDING_EVERY
    return rows


def _rest(handler):
    async def handle(request: web.Request) -> web.Response:
        state = request.app[STATE]
        entry = {"at": time.time(), "path": request.path, "query": dict(request.query), "status": 200}
        request.app[REQUESTS].append(entry)
        if state.faults.take_rest_429():
            entry["status"] = 429
            now_ms = int(time.time() * 1000)
            body = {"retCode": 10006, "retMsg": "Too many visits!", "result": {}, "retExtInfo": {}, "time": now_ms}
            headers = {"X-Bapi-Limit-Reset-Timestamp": str(now_ms + RETRY_AFTER_MS)}
            return web.json_response(body, status=429, headers=headers)
        try:
            result = handler(state, request.app, request.query)
        except Invalid as error:
            entry["status"] = 400
            return web.json_response({"retCode": error.code, "retMsg": str(error), "result": {}, "retExtInfo": {}})
        body = {"retCode": 0, "retMsg": "OK", "result": result, "retExtInfo": {}, "time": int(time.time() * 1000)}
        return web.json_response(body)

    return handle


async def requests(request: web.Request) -> web.Response:
    """The REST request log: ``{"at" (wall clock s), "path", "query", "status"}``, oldest first."""
    return web.json_response(list(request.app[REQUESTS]))


async def listing(request: web.Request) -> web.Response:
    """``{"category", "symbol", "launch_ms"}``: the symbol has no history before ``launch_ms``."""
    body = await request.json()
    category, symbol, launch = body.get("category"), body.get("symbol"), body.get("launch_ms")
    if category not in (LINEAR, SPOT) or not isinstance(symbol, str) or not isinstance(launch, int):
        return web.json_response(
            {"error": "category (linear|spot), symbol and launch_ms (int) are required"}, status=400
        )
    request.app[LISTINGS][(category, symbol)] = launch
    return web.json_response({"category": category, "symbol": symbol, "launch_ms": launch})


def add_routes(app: web.Application) -> None:
    app[REQUESTS] = deque(maxlen=REQUEST_LOG_SIZE)
    app[LISTINGS] = {}
    app.router.add_get("/v5/market/kline", _rest(klines))
    app.router.add_get("/v5/market/funding/history", _rest(funding))
    app.router.add_get("/v5/market/open-interest", _rest(open_interest))
    app.router.add_get("/control/bybit/requests", requests)
    app.router.add_post("/control/bybit/listing", listing)
