"""Binance's kline REST endpoints (EXCHANGES.md sections 2.3 and 3) over the deterministic market.

``GET /api/v3/klines`` (spot, at most 1000 rows) and ``GET /fapi/v1/klines``
(USD-M perpetuals, at most 1500 rows) answer as Binance does: rows
``[openTime, o, h, l, c, v, closeTime, quoteVolume, trades, takerBase,
takerQuote, "0"]`` for open times in ``[startTime, endTime]`` (both
inclusive, epoch ms), ascending, the current candle partial, nothing past
virtual now. A minute without trades is a zero-volume candle at the last
traded price, as on Binance. Spot and perps of one coin are different
markets (the spot market uses another seed), so a client that asks the wrong
API gets visibly wrong data. Quote and taker volumes are not modelled ("0").
Errors are Binance's ``{"code", "msg"}`` with HTTP 400; the rest-429 fault
answers 429 with ``Retry-After``.
"""

from aiohttp import web

from . import intervals
from .market import Market, decimal_text
from .state import STATE

SPOT, USDM = "spot", "usdm"
MAX_LIMIT = {SPOT: 1000, USDM: 1500}
DEFAULT_LIMIT = 500
SPOT_SEED_OFFSET = 1_000_003
QUOTES = ("USDT", "USDC", "FDUSD", "BUSD", "USD")
LOOKBACK_MINUTES = 10_000
RETRY_AFTER_SECONDS = 1


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


def truth(seed, market_name, symbol, interval, start_ms, end_ms):
    """Every complete kline with open time in ``[start_ms, end_ms)`` as (open_ms, o, h, l, c, v, trades)."""
    market, coin = market_for(seed, market_name), base_coin(symbol)
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
    market, rows = market_for(state.config.seed, market_name), []
    while t <= last and len(rows) < limit:
        o, h, low, c, v, n = kline(market, coin, interval, t, until_ms=now if t == current else None)
        close_ms = intervals.close_time(interval, t)
        texts = [decimal_text(x) for x in (o, h, low, c, v)]
        rows.append([t, *texts, close_ms, "0", n, "0", "0", "0"])
        t = intervals.next_start(interval, t)
    return rows


def _handler(market_name):
    async def handle(request: web.Request) -> web.Response:
        state = request.app[STATE]
        if state.faults.take_rest_429():
            return web.json_response(
                {"code": -1003, "msg": "Too many requests; current limit is exceeded."},
                status=429,
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
        try:
            rows = klines(state, market_name, request.query)
        except Invalid as error:
            return web.json_response({"code": error.code, "msg": error.msg}, status=400)
        return web.json_response(rows, headers={"X-MBX-USED-WEIGHT-1M": "2"})

    return handle


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/v3/klines", _handler(SPOT))
    app.router.add_get("/fapi/v1/klines", _handler(USDM))
