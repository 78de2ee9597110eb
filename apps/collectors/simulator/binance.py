"""Binance's REST endpoints (EXCHANGES.md sections 2.3 and 3) over the deterministic market.

``GET /api/v3/klines`` (spot, at most 1000 rows) and ``GET /fapi/v1/klines``
(USD-M perpetuals, at most 1500 rows) answer as Binance does: rows
``[openTime, o, h, l, c, v, closeTime, quoteVolume, trades, takerBase,
takerQuote, "0"]`` for open times in ``[startTime, endTime]`` (both
inclusive, epoch ms), ascending, the current candle partial, nothing past
virtual now. A minute without trades is a zero-volume candle at the last
traded price, as on Binance. Spot and perps of one coin are different
markets (the spot market uses another seed), so a client that asks the wrong
API gets visibly wrong data. Quote and taker volumes are not modelled ("0").
USD-M also answers ``/fapi/v1/openInterest`` (now), ``/fapi/v1/fundingRate``
(every 8 hours, ``fundingTime`` a few ms past the boundary as on Binance,
ascending, at most 1000 rows) and ``/futures/data/openInterestHist``
(5m and longer periods, the last 30 days only, at most 500 rows), from the
same context the live ``markPrice`` stream sends. ``/fapi/v1/depth`` and
``/api/v3/depth`` answer the current book (``binance_book``), ``.../aggTrades``
the trade tape the live ``aggTrade`` stream sends. Every answered request goes
to the request log (``/control/rest-log``) with its Binance weight, so tests
can hold a client to its budget.
Errors are Binance's ``{"code", "msg"}`` with HTTP 400; the rest-429 fault
answers 429 with ``Retry-After``.
"""

from decimal import Decimal

from aiohttp import web

from . import binance_book, intervals
from .context import asset_ctx, funding_rate
from .market import Market, decimal_text, number
from .state import STATE

SPOT, USDM = "spot", "usdm"
MAX_LIMIT = {SPOT: 1000, USDM: 1500}
DEFAULT_LIMIT = 500
SPOT_SEED_OFFSET = 1_000_003
QUOTES = ("USDT", "USDC", "FDUSD", "BUSD", "USD")
LOOKBACK_MINUTES = 10_000
RETRY_AFTER_SECONDS = 1
FUNDING_PERIOD_MS = 8 * intervals.HOUR
FUNDING_LIMIT, FUNDING_DEFAULT = 1000, 100
OI_HISTORY_LIMIT, OI_HISTORY_DEFAULT = 500, 30
OI_HISTORY_PERIODS = ("5m", "15m", "30m", "1h", "2h", "4h", "6h", "12h", "1d")
OI_HISTORY_DAYS = 30


class Invalid(Exception):
    def __init__(self, code, msg):
        super().__init__(msg)
        self.code, self.msg = code, msg


def base_coin(symbol):
    """``BTCUSDT`` -> ``BTC``: the simulated coin behind a Binance symbol."""
    for quote in QUOTES:
        if symbol.endswith(quote) and len(symbol) > len(quote):
            return symbol[: -len(quote)]
    raise Invalid(-1121, "Invalid symbol.")


def market_for(seed, market):
    return Market(seed + SPOT_SEED_OFFSET if market == SPOT else seed)


def _last_price(market, coin, before_ms):
    minute = before_ms - before_ms % intervals.MINUTE
    for _ in range(LOOKBACK_MINUTES):
        minute -= intervals.MINUTE
        candle = market.candle(coin, "1m", minute)
        if candle is not None:
            return candle.close
    return market.profile(coin).price(market.profile(coin).base_ticks)


def kline(market, coin, interval, open_ms, until_ms=None):
    """The simulated Binance kline as (open, high, low, close, volume, trades); never None."""
    candle = market.candle(coin, interval, open_ms, until_ms=until_ms)
    if candle is not None:
        return candle.open, candle.high, candle.low, candle.close, candle.volume, candle.trades
    price = _last_price(market, coin, open_ms)
    return price, price, price, price, market.profile(coin).size(0), 0


def truth(seed, market_name, symbol, interval, start_ms, end_ms, listing_ms=None):
    """Every complete kline with open time in ``[start_ms, end_ms)`` as (open_ms, o, h, l, c, v, trades)."""
    market, coin = market_for(seed, market_name), base_coin(symbol)
    start_ms = max(start_ms, listing_ms or 0)
    t = intervals.floor(interval, start_ms)
    if t < start_ms:
        t = intervals.next_start(interval, t)
    rows = []
    while t < end_ms:
        rows.append((t, *kline(market, coin, interval, t)))
        t = intervals.next_start(interval, t)
    return rows


def _int(query, name, default=None):
    raw = query.get(name)
    if raw is None:
        if default is None:
            raise Invalid(-1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")
        return default
    try:
        return int(raw)
    except ValueError:
        message = f"Illegal characters found in parameter '{name}'; legal range is '^[0-9]{{1,20}}$'."
        raise Invalid(-1100, message) from None


def klines(state, market_name, query):
    symbol, interval = query.get("symbol"), query.get("interval")
    if not symbol:
        raise Invalid(-1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.")
    if not intervals.is_interval(interval):
        raise Invalid(-1120, "Invalid interval.")
    coin = base_coin(symbol)
    limit = _int(query, "limit", DEFAULT_LIMIT)
    if not 1 <= limit <= MAX_LIMIT[market_name]:
        raise Invalid(-1130, "Invalid data sent for a parameter.")
    now = state.clock.now_ms()
    current = intervals.floor(interval, now)
    last = min(_int(query, "endTime", now), now)
    if "startTime" in query:
        t = intervals.floor(interval, _int(query, "startTime"))
        if t < _int(query, "startTime"):
            t = intervals.next_start(interval, t)
    else:
        t = intervals.shift(interval, intervals.floor(interval, last), 1 - limit)
    listing = state.config.binance_listing_ms
    if listing is not None and t < listing:  # nothing before the symbol was listed
        t = intervals.floor(interval, listing)
        t = t if t == listing else intervals.next_start(interval, t)
    market, rows = market_for(state.config.seed, market_name), []
    while t <= last and len(rows) < limit:
        o, h, low, c, v, n = kline(market, coin, interval, t, until_ms=now if t == current else None)
        close_ms = intervals.close_time(interval, t)
        texts = [decimal_text(x) for x in (o, h, low, c, v)]
        rows.append([t, *texts, close_ms, "0", n, "0", "0", "0"])
        t = intervals.next_start(interval, t)
    return rows


def _symbol(query):
    symbol = query.get("symbol")
    if not symbol:
        raise Invalid(-1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.")
    base_coin(symbol)
    return symbol


def funding_time(seed, symbol, boundary_ms):
    """Binance's ``fundingTime`` of the funding at ``boundary_ms``: a few milliseconds late."""
    return boundary_ms + number(seed, symbol, "binance-funding-time", boundary_ms) % 10


def funding_row(seed, symbol, boundary_ms):
    mark = asset_ctx(seed, base_coin(symbol), boundary_ms)["markPx"]
    return {
        "symbol": symbol, "fundingTime": funding_time(seed, symbol, boundary_ms),
        "fundingRate": funding_rate(seed, base_coin(symbol), boundary_ms)[0], "markPrice": mark,
    }  # fmt: skip


def funding_truth(seed, symbol, start_ms, end_ms, listing_ms=None):
    """Every funding row with its boundary in ``[start_ms, end_ms)``."""
    t = -(-max(start_ms, listing_ms or 0) // FUNDING_PERIOD_MS) * FUNDING_PERIOD_MS
    return [funding_row(seed, symbol, b) for b in range(t, end_ms, FUNDING_PERIOD_MS)]


def funding_rates(state, query):
    symbol, now = _symbol(query), state.clock.now_ms()
    limit = _int(query, "limit", FUNDING_DEFAULT)
    if not 1 <= limit <= FUNDING_LIMIT:
        raise Invalid(-1130, "Invalid data sent for a parameter.")
    end = min(_int(query, "endTime", now), now)
    last_boundary = end // FUNDING_PERIOD_MS * FUNDING_PERIOD_MS
    if "startTime" in query:
        first = -(-_int(query, "startTime") // FUNDING_PERIOD_MS) * FUNDING_PERIOD_MS
        # A boundary just before startTime may still be in range: its fundingTime is a few ms late.
        first = max(0, first - FUNDING_PERIOD_MS)
    else:
        first = max(0, last_boundary - (limit - 1) * FUNDING_PERIOD_MS)
    start = _int(query, "startTime", 0)
    listing = state.config.binance_listing_ms or 0
    rows = []
    for boundary in range(max(first, -(-listing // FUNDING_PERIOD_MS) * FUNDING_PERIOD_MS), last_boundary + 1,
                          FUNDING_PERIOD_MS):  # fmt: skip
        row = funding_row(state.config.seed, symbol, boundary)
        if start <= row["fundingTime"] <= end:
            rows.append(row)
        if len(rows) == limit:
            break
    return rows


def open_interest_history(state, query):
    symbol, now = _symbol(query), state.clock.now_ms()
    period = query.get("period")
    if period not in OI_HISTORY_PERIODS:
        raise Invalid(-1120, "Invalid period.")
    limit = _int(query, "limit", OI_HISTORY_DEFAULT)
    if not 1 <= limit <= OI_HISTORY_LIMIT:
        raise Invalid(-1130, "Invalid data sent for a parameter.")
    oldest = now - OI_HISTORY_DAYS * intervals.DAY
    end = min(_int(query, "endTime", now), now)
    if "startTime" in query:
        t = max(_int(query, "startTime"), oldest)
        t = intervals.shift(period, intervals.floor(period, t), 0 if intervals.floor(period, t) == t else 1)
    else:
        t = max(intervals.shift(period, intervals.floor(period, end), 1 - limit), oldest)
    rows = []
    while t <= end and len(rows) < limit:
        ctx = asset_ctx(state.config.seed, base_coin(symbol), t)
        oi, mark = Decimal(ctx["openInterest"]), Decimal(ctx["markPx"])
        rows.append({"symbol": symbol, "sumOpenInterest": ctx["openInterest"],
                     "sumOpenInterestValue": decimal_text(oi * mark), "timestamp": t})  # fmt: skip
        t = intervals.next_start(period, t)
    return rows


def open_interest_now(state, query):
    symbol, now = _symbol(query), state.clock.now_ms()
    ctx = asset_ctx(state.config.seed, base_coin(symbol), now)
    state.log_ctx(f"binance-oi:{symbol}", {"openInterest": ctx["openInterest"], "time": now})
    return {"symbol": symbol, "openInterest": ctx["openInterest"], "time": now}


def _klines_weight(market_name, query):
    if market_name == SPOT:
        return 2
    limit = int(query.get("limit", DEFAULT_LIMIT)) if str(query.get("limit", "")).isdigit() else DEFAULT_LIMIT
    return 1 if limit < 100 else 2 if limit < 500 else 5 if limit <= 1000 else 10


def _handler(answer, weight):
    async def handle(request: web.Request) -> web.Response:
        state = request.app[STATE]
        cost = weight(request.query)
        if state.faults.take_rest_429():
            state.log_rest(request.path, dict(request.query), 429, cost)
            return web.json_response(
                {"code": -1003, "msg": "Too many requests; current limit is exceeded."},
                status=429,
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
        try:
            body = answer(state, request.query)
        except Invalid as error:
            state.log_rest(request.path, dict(request.query), 400, cost)
            return web.json_response({"code": error.code, "msg": error.msg}, status=400)
        state.log_rest(request.path, dict(request.query), 200, cost)
        return web.json_response(body, headers={"X-MBX-USED-WEIGHT-1M": str(cost)})

    return handle


# A stale snapshot (fault) is this old: older than any delta a collector still buffers.
STALE_SNAPSHOT_MS = 10 * intervals.MINUTE


def _depth_handler(market_name):
    """``GET /fapi/v1/depth`` / ``/api/v3/depth``: the book now (binance_book), weight by limit.

    Faults (``/control/book-fault`` for ``binance-<market>``): ``lost-snapshot`` answers 503 as Binance
    does when it cannot answer, ``stale-snapshot`` the book of ten virtual minutes ago.
    """
    usdm = market_name == USDM

    async def handle(request: web.Request) -> web.Response:
        state, query = request.app[STATE], request.query
        venue, faults = f"binance-{market_name}", state.faults
        try:
            symbol = _symbol(query)
            limit = _int(query, "limit", 500 if usdm else 100)
            if (usdm and limit not in binance_book.USDM_DEPTH_LIMITS) or not 1 <= limit <= 5000:
                raise Invalid(-1130, "Invalid data sent for a parameter.")
        except Invalid as error:
            state.log_rest(request.path, dict(query), 400, 1)
            return web.json_response({"code": error.code, "msg": error.msg}, status=400)
        cost = binance_book.depth_weight(limit, usdm)
        if faults.take_book_fault(venue, "lost-snapshot"):
            state.log_rest(request.path, dict(query), 503, cost)
            return web.json_response({"code": -1001, "msg": "Internal error; unable to process your request."},
                                     status=503)  # fmt: skip
        now = state.clock.now_ms()
        moment = now - STALE_SNAPSHOT_MS if faults.take_book_fault(venue, "stale-snapshot") else now
        seed = market_for(state.config.seed, market_name).seed
        body = binance_book.rest_depth(seed, base_coin(symbol), symbol, binance_book.block_of(moment), now, limit,
                                       usdm)  # fmt: skip
        state.log_rest(request.path, dict(query), 200, cost)
        return web.json_response(body, headers={"X-MBX-USED-WEIGHT-1M": str(cost)})

    return handle


AGG_TRADES_LIMIT, AGG_TRADES_DEFAULT = 1000, 500


def trade_tape(prices, symbol, start_ms, end_ms) -> list[dict]:
    """The ``aggTrade`` payloads of ``[start_ms, end_ms)`` (virtual ms) in time order, without ``E``.

    One per simulated trade, ``a`` its time in seconds (trades are at distinct seconds, so ids grow);
    ``m`` (the buyer made) is a deterministic coin flip.
    """
    coin, found = base_coin(symbol), []
    minute = start_ms // intervals.MINUTE * intervals.MINUTE
    while minute < end_ms:
        for tick in prices.ticks(coin, minute):
            if start_ms <= tick.time < end_ms:
                trade_id = tick.time // 1000
                found.append({"e": "aggTrade", "a": trade_id, "s": symbol, "p": decimal_text(tick.price),
                              "q": decimal_text(tick.size), "f": trade_id, "l": trade_id, "T": tick.time,
                              "m": number(prices.seed, symbol, "maker", tick.time) % 2 == 1})  # fmt: skip
        minute += intervals.MINUTE
    return found


def agg_trades(state, market_name, query):
    """``GET .../aggTrades``: by ``fromId`` (ids are trade times in seconds here), else ``startTime``/``endTime``
    (both inclusive, at most an hour apart; default the last hour), ascending, at most ``limit``."""
    symbol, now = _symbol(query), state.clock.now_ms()
    limit = _int(query, "limit", AGG_TRADES_DEFAULT)
    if not 1 <= limit <= AGG_TRADES_LIMIT:
        raise Invalid(-1130, "Invalid data sent for a parameter.")
    if "fromId" in query:
        start, end = _int(query, "fromId") * 1000, now + 1
    else:
        end = min(_int(query, "endTime", now), now) + 1
        start = _int(query, "startTime", end - intervals.HOUR)
        if end - start > intervals.HOUR:
            raise Invalid(-1127, "More than 1 hours between startTime and endTime.")
    prices, rows = market_for(state.config.seed, market_name), []
    while start < end and len(rows) < limit:  # a minute at a time: stop once the page is full
        chunk_end = min(end, (start // intervals.MINUTE + 1) * intervals.MINUTE)
        trades = trade_tape(prices, symbol, start, chunk_end)
        rows += [{k: v for k, v in t.items() if k not in ("e", "s")} for t in trades]
        start = chunk_end
    return rows[:limit]


def book_truth(state, market_name, symbol, moment_ms):
    """The true book of ``symbol`` at ``moment_ms`` (virtual): time, lastUpdateId, bids and asks best first."""
    seed, block = market_for(state.config.seed, market_name).seed, binance_book.block_of(moment_ms)
    return {"time": block * binance_book.BLOCK_MS, "lastUpdateId": binance_book.update_id(seed, symbol, block),
            **binance_book.book(seed, base_coin(symbol), block)}  # fmt: skip


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/v3/klines", _handler(lambda s, q: klines(s, SPOT, q), lambda q: _klines_weight(SPOT, q)))
    app.router.add_get("/fapi/v1/klines", _handler(lambda s, q: klines(s, USDM, q), lambda q: _klines_weight(USDM, q)))
    app.router.add_get("/fapi/v1/openInterest", _handler(open_interest_now, lambda q: 1))
    app.router.add_get("/fapi/v1/fundingRate", _handler(funding_rates, lambda q: 1))
    app.router.add_get("/futures/data/openInterestHist", _handler(open_interest_history, lambda q: 1))
    app.router.add_get("/fapi/v1/depth", _depth_handler(USDM))
    app.router.add_get("/fapi/v1/aggTrades", _handler(lambda s, q: agg_trades(s, USDM, q), lambda q: 20))
    app.router.add_get("/api/v3/aggTrades", _handler(lambda s, q: agg_trades(s, SPOT, q), lambda q: 4))
    app.router.add_get("/api/v3/depth", _depth_handler(SPOT))
