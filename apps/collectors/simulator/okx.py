"""OKX V5's public REST history (EXCHANGES.md section 5.3) over the deterministic markets.

``GET /api/v5/market/history-candles`` (at most 100 rows),
``/api/v5/public/funding-rate-history`` (at most 100, swaps only),
``/api/v5/rubik/stat/contracts/open-interest-history`` (at most 100, swaps
only) and ``/api/v5/public/instruments?instType=SWAP`` (each swap's
``ctVal``) answer as OKX does: ``{"code": "0", "msg": "", "data": [...]}``, rows
newest first, every number and time a string, the newest ``limit`` rows of
the asked range (``after``: older than, ``before``: newer than; rubik's
``begin``/``end`` inclusive), nothing past virtual now (the current candle
with ``confirm`` ``"0"``). Every interval has a candle, at the last price
with zero volume when nothing traded. A swap's ``vol`` counts contracts
(``CONTRACT_VALUES``: 0.01 BTC, 0.1 ETH, 1 of anything else) and its
``volCcy`` the coin; spot's ``vol`` is the coin and ``volCcy`` the quote.
Swap and spot of one coin are different markets (other seeds than the
other venues'), so a client asking the wrong instrument gets visibly wrong
data. Funding settles every 8 hours; open interest is reported in contracts
(``oi``), coin (``oiCcy``) and USD (``oiUsd``).

Simulator-only: an instrument's listing time (``POST /control/okx/listing``;
nothing exists before it), the request log every REST call lands in
(``GET /control/okx/requests``, to assert budgets from), and the shared
rest-429 fault, answered as HTTP 429 with code 50011.
"""

import time
from collections import deque
from decimal import Decimal

from aiohttp import web

from . import binance, intervals
from .context import asset_ctx, funding_rate
from .market import Market, decimal_text
from .state import STATE

SWAP, SPOT = "SWAP", "SPOT"
SEED_OFFSET = {SWAP: 4_000_037, SPOT: 5_000_011}
QUOTES = ("USDT", "USDC", "USD")
CONTRACT_VALUES = {"BTC": Decimal("0.01"), "ETH": Decimal("0.1")}
BARS = {
    "1m": "1m", "3m": "3m", "5m": "5m", "15m": "15m", "30m": "30m", "1H": "1h", "2H": "2h", "4H": "4h",
    "6Hutc": "6h", "12Hutc": "12h", "1Dutc": "1d", "1Mutc": "1M",
}  # fmt: skip
OI_PERIODS = {"5m": "5m", "15m": "15m", "30m": "30m", "1H": "1h", "2H": "2h", "4H": "4h", "1Dutc": "1d"}
FUNDING_EVERY = 8 * intervals.HOUR
LIMITS = {"candles": (100, 100), "funding": (100, 100), "oi": (100, 100), "history-trades": (100, 100)}
REQUEST_LOG_SIZE = 100_000
REALIZED_PLACES = Decimal("0.00001")

REQUESTS = web.AppKey("okx_requests", deque)
LISTINGS = web.AppKey("okx_listings", dict)


class Invalid(Exception):
    def __init__(self, message, code="51000"):
        super().__init__(message)
        self.code = code


def instrument(inst_id):
    """``BTC-USDT-SWAP`` -> (``BTC``, ``SWAP``); ``BTC-USDT`` -> (``BTC``, ``SPOT``)."""
    parts = inst_id.split("-") if isinstance(inst_id, str) else []
    if len(parts) == 3 and parts[2] == SWAP and parts[1] in QUOTES and parts[0]:
        return parts[0], SWAP
    if len(parts) == 2 and parts[1] in QUOTES and parts[0]:
        return parts[0], SPOT
    raise Invalid(f"Instrument ID {inst_id!r} does not exist", "51001")


def market(seed, kind):
    return Market(seed + SEED_OFFSET[kind])


def contract_value(coin):
    return CONTRACT_VALUES.get(coin, Decimal(1))


def candle_row(seed, inst_id, interval, open_ms, now_ms=None):
    """OKX's nine strings for the candle opening at ``open_ms`` (complete unless ``now_ms`` is inside it)."""
    coin, kind = instrument(inst_id)
    current = now_ms is not None and intervals.floor(interval, now_ms) == open_ms
    o, h, low, c, v, _ = binance.kline(
        market(seed, kind), coin, interval, open_ms, until_ms=now_ms if current else None
    )
    quote = decimal_text(v * c)
    vol, vol_ccy = (v / contract_value(coin), v) if kind == SWAP else (v, v * c)
    return [str(open_ms), *(decimal_text(x) for x in (o, h, low, c)), decimal_text(vol), decimal_text(vol_ccy),
            quote, "0" if current else "1"]  # fmt: skip


def funding_rate_at(seed, coin, t_ms):
    return funding_rate(seed + SEED_OFFSET[SWAP], coin, t_ms)[0]


def open_interest_at(seed, inst_id, t_ms):
    """(oi in contracts, oiCcy, oiUsd) as OKX's strings: the simulated market's open interest at ``t_ms``."""
    coin, _ = instrument(inst_id)
    ctx = asset_ctx(seed + SEED_OFFSET[SWAP], coin, t_ms)
    coins = Decimal(ctx["openInterest"])
    usd = coins * Decimal(ctx["markPx"])
    return decimal_text(coins / contract_value(coin)), decimal_text(coins), decimal_text(usd)


def _int(query, name):
    raw = query.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise Invalid(f"Parameter {name} error", "51000") from None


def _limit(query, kind):
    default, maximum = LIMITS[kind]
    limit = _int(query, "limit")
    limit = default if limit is None else limit
    if not 1 <= limit <= maximum:
        raise Invalid("Parameter limit error", "51000")
    return limit


def _first_slot(interval, t):
    slot = intervals.floor(interval, t)
    return slot if slot >= t else intervals.next_start(interval, slot)


def _newest(interval, first, last, limit):
    """Open times of ``interval`` in ``[first, last]``, the newest ``limit``, newest first."""
    slots, t = [], intervals.floor(interval, last) if last >= first else None
    while t is not None and t >= first and len(slots) < limit:
        slots.append(t)
        t = intervals.shift(interval, t, -1)
    return slots


def _range(app, query, now):
    """[first, last] of an after/before query (exclusive bounds), from the listing to virtual now."""
    inst_id = query.get("instId")
    instrument(inst_id)
    after, before = _int(query, "after"), _int(query, "before")
    last = now if after is None else min(after - 1, now)
    first = max(0 if before is None else before + 1, app[LISTINGS].get(inst_id, 0))
    return inst_id, first, last


def history_candles(state, app, query):
    interval = BARS.get(query.get("bar", "1m"))
    if interval is None:
        raise Invalid("Parameter bar error", "51000")
    now = state.clock.now_ms()
    inst_id, first, last = _range(app, query, now)
    slots = _newest(interval, _first_slot(interval, first), last, _limit(query, "candles"))
    return [candle_row(state.config.seed, inst_id, interval, t, now) for t in slots]


def funding_history(state, app, query):
    now = state.clock.now_ms()
    inst_id, first, last = _range(app, query, now)
    coin, kind = instrument(inst_id)
    if kind != SWAP:
        raise Invalid(f"Instrument ID {inst_id!r} is not a swap", "51001")
    limit, t, rows = _limit(query, "funding"), last - last % FUNDING_EVERY, []
    while t >= first and len(rows) < limit:
        rate = funding_rate_at(state.config.seed, coin, t)
        realized = decimal_text(Decimal(rate).quantize(REALIZED_PLACES))
        rows.append({"instType": SWAP, "instId": inst_id, "fundingRate": rate, "realizedRate": realized,
                     "fundingTime": str(t), "method": "current_period"})  # fmt: skip
        t -= FUNDING_EVERY
    return rows


def open_interest_history(state, app, query):
    interval = OI_PERIODS.get(query.get("period", "5m"))
    if interval is None:
        raise Invalid("Parameter period error", "51000")
    inst_id, now = query.get("instId"), state.clock.now_ms()
    if instrument(inst_id)[1] != SWAP:
        raise Invalid(f"Instrument ID {inst_id!r} is not a swap", "51001")
    end = _int(query, "end")
    last = now if end is None else min(end, now)
    first = max(_int(query, "begin") or 0, app[LISTINGS].get(inst_id, 0))
    # A period's open interest is known once it has begun (stamped at the period's start).
    slots = _newest(interval, _first_slot(interval, first), last, _limit(query, "oi"))
    return [[str(t), *open_interest_at(state.config.seed, inst_id, t)] for t in slots]


def truth_candles(seed, inst_id, interval, start_ms, end_ms, listed_ms=0):
    """Every complete candle with open time in ``[max(start, listing), end)``: (open_ms, o, h, l, c, base volume)."""
    coin, kind = instrument(inst_id)
    t, rows = max(_first_slot(interval, start_ms), _first_slot(interval, listed_ms)), []
    while t < end_ms:
        rows.append((t, *binance.kline(market(seed, kind), coin, interval, t)[:5]))
        t = intervals.next_start(interval, t)
    return rows


def truth_funding(seed, inst_id, start_ms, end_ms, listed_ms=0):
    """Every settlement in ``[max(start, listing), end)`` as (time_ms, rate text), ascending."""
    coin, _ = instrument(inst_id)
    t = max(start_ms, listed_ms)
    t += -t % FUNDING_EVERY
    return [(s, funding_rate_at(seed, coin, s)) for s in range(t, end_ms, FUNDING_EVERY)]


def instrument_rows(inst_ids) -> list[dict]:
    """``/api/v5/public/instruments`` rows of swaps: ``ctVal`` coins per contract."""
    rows = []
    for inst_id in inst_ids:
        coin, kind = instrument(inst_id)
        if kind == SWAP:
            rows.append({"instType": SWAP, "instId": inst_id, "uly": inst_id[: -len("-SWAP")], "ctType": "linear",
                         "ctVal": decimal_text(contract_value(coin)), "ctMult": "1", "ctValCcy": coin,
                         "settleCcy": inst_id.split("-")[1], "state": "live"})  # fmt: skip
    return rows


def instruments(state, app, query):
    """Swaps with their contract value: ``instId`` alone, or every USDT and USDC swap of the simulator's coins."""
    if query.get("instType") != SWAP:
        raise Invalid("Parameter instType error", "51000")
    inst_id = query.get("instId")
    if inst_id:
        if instrument(inst_id)[1] != SWAP:
            raise Invalid(f"Instrument ID {inst_id!r} is not a swap", "51001")
        return instrument_rows([inst_id])
    return instrument_rows(f"{coin}-{quote}-SWAP" for coin in state.universe() for quote in ("USDT", "USDC"))


def rest_route(handler):
    async def handle(request: web.Request) -> web.Response:
        state = request.app[STATE]
        entry = {"at": time.time(), "path": request.path, "query": dict(request.query), "status": 200}
        request.app[REQUESTS].append(entry)
        if state.faults.take_rest_429():
            entry["status"] = 429
            return web.json_response({"code": "50011", "msg": "Too Many Requests", "data": []}, status=429)
        try:
            data = handler(state, request.app, request.query)
        except Invalid as error:
            entry["status"] = 400
            return web.json_response({"code": error.code, "msg": str(error), "data": []}, status=400)
        return web.json_response({"code": "0", "msg": "", "data": data})

    return handle


async def requests(request: web.Request) -> web.Response:
    """The REST request log: ``{"at" (wall clock s), "path", "query", "status"}``, oldest first."""
    return web.json_response(list(request.app[REQUESTS]))


async def listing(request: web.Request) -> web.Response:
    """``{"instId", "launch_ms"}``: the instrument has no history before ``launch_ms``."""
    body = await request.json()
    inst_id, launch = body.get("instId"), body.get("launch_ms")
    try:
        instrument(inst_id)
    except Invalid:
        inst_id = None
    if inst_id is None or not isinstance(launch, int):
        return web.json_response({"error": "instId (an OKX swap or spot id) and launch_ms (int) are required"},
                                 status=400)  # fmt: skip
    request.app[LISTINGS][inst_id] = launch
    return web.json_response({"instId": inst_id, "launch_ms": launch})


def add_routes(app: web.Application) -> None:
    app[REQUESTS] = deque(maxlen=REQUEST_LOG_SIZE)
    app[LISTINGS] = {}
    app.router.add_get("/api/v5/market/history-candles", rest_route(history_candles))
    app.router.add_get("/api/v5/public/funding-rate-history", rest_route(funding_history))
    app.router.add_get("/api/v5/rubik/stat/contracts/open-interest-history", rest_route(open_interest_history))
    app.router.add_get("/api/v5/public/instruments", rest_route(instruments))
    app.router.add_get("/control/okx/requests", requests)
    app.router.add_post("/control/okx/listing", listing)
