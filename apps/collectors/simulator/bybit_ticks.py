"""Bybit's trades and order books over the deterministic markets: a tape and a true book per symbol.

Trades are the category's market ticks (``bybit.market``: linear and spot
are different markets) as ``publicTrade`` items: the taker's side ``S``,
a UUID-shaped id ``i`` on linear and digits on spot, as Bybit's are. The
true book of a symbol changes every ``BOOK_STEP_MS`` of virtual time; its
update id ``u`` is the step number, so the book at a moment, the delta that
leads to it and its ``u`` are all functions of the seed, the symbol and the
moment. 50 levels a side around the minute's price, never crossed; each
level's size changes every 4 steps at a phase of its own, so a delta holds
about a quarter of the levels (all of them when the minute's price moves).
The collector's stored rows are compared with these (``/truth/trades``,
``/truth/book`` with ``exchange=bybit``). ``GET /v5/market/recent-trade``
answers the latest trades (at most 1000 linear, 60 spot) as Bybit does.
"""

import uuid

from aiohttp import web

from . import intervals
from .bybit import LINEAR, SEED_OFFSET, _limit, _rest, _series, base_coin, market
from .market import MINUTE, decimal_text, digest, number, price_ticks, profile

RECENT_TRADES_HORIZON_MS = 7 * intervals.DAY
BOOK_STEP_MS = 500
BOOK_LEVELS = 50
SIZE_PERIOD_STEPS = 4


def _trade_id(seed, category, symbol, time_ms):
    if category == LINEAR:
        return str(uuid.UUID(bytes=digest(seed, category, symbol, "trade", time_ms, size=16)))
    return str(number(seed, category, symbol, "trade", time_ms) % 10**19)


def trades(seed: int, category: str, symbol: str, start_ms: int, end_ms: int) -> list[dict]:
    """``publicTrade`` items of ``[start_ms, end_ms)``, in time order."""
    simulated, coin, found = market(seed, category), base_coin(symbol), []
    minute = start_ms // MINUTE * MINUTE
    while minute < end_ms:
        for tick in simulated.ticks(coin, minute):
            if start_ms <= tick.time < end_ms:
                side = "Buy" if number(seed, category, symbol, "side", tick.time) % 2 else "Sell"
                found.append({"T": tick.time, "s": symbol, "S": side, "v": decimal_text(tick.size),
                              "p": decimal_text(tick.price), "L": "ZeroPlusTick",
                              "i": _trade_id(seed, category, symbol, tick.time), "BT": False,
                              "seq": tick.time // 1000})  # fmt: skip
        minute += MINUTE
    return found


def recent_trades(seed: int, category: str, symbol: str, now_ms: int, limit: int, horizon_ms: int) -> list[dict]:
    """The latest ``limit`` trades before ``now_ms`` (looking back at most ``horizon_ms``), newest first,
    as ``/v5/market/recent-trade`` rows."""
    rows, end = [], now_ms + 1
    while len(rows) < limit and end > now_ms - horizon_ms:
        start = end - 60 * MINUTE
        for item in reversed(trades(seed, category, symbol, start, end)):
            rows.append({"execId": item["i"], "symbol": symbol, "price": item["p"], "size": item["v"],
                         "side": item["S"], "time": str(item["T"]), "isBlockTrade": False,
                         "seq": str(item["seq"])})  # fmt: skip
        end = start
    return rows[:limit]


def book(seed: int, category: str, symbol: str, step: int, depth: int = BOOK_LEVELS) -> dict:
    """The true book at update ``step`` (virtual time ``step * BOOK_STEP_MS``): ``b``/``a`` best first."""
    coin = base_coin(symbol)
    p, salt = profile(coin), seed + SEED_OFFSET[category]
    mid = price_ticks(salt, coin, step * BOOK_STEP_MS // MINUTE)
    tick = max(1, p.base_ticks // 100_000)

    def level(side, price):
        phase = number(salt, symbol, "phase", side, price) % SIZE_PERIOD_STEPS
        units = 1 + number(salt, symbol, "size", side, price, (step + phase) // SIZE_PERIOD_STEPS) % p.max_size_units
        return [decimal_text(p.price(price)), decimal_text(p.size(units))]

    levels = min(depth, BOOK_LEVELS)
    return {
        "s": symbol,
        "b": [level("b", mid - tick * (k + 1)) for k in range(levels)],
        "a": [level("a", mid + tick * (k + 1)) for k in range(levels)],
        "u": step,
        "time": step * BOOK_STEP_MS,
    }


def book_at(seed: int, category: str, symbol: str, time_ms: int) -> dict:
    return book(seed, category, symbol, time_ms // BOOK_STEP_MS)


def delta(before: dict, after: dict) -> dict:
    """The levels that changed from ``before`` to ``after`` (size ``"0"``: the level is gone), at ``after``'s u."""
    changes = {}
    for side in ("b", "a"):
        old, new = dict(before[side]), dict(after[side])
        changed = [[price, size] for price, size in after[side] if old.get(price) != size]
        changes[side] = changed + [[price, "0"] for price in old if price not in new]
    return {"s": after["s"], **changes, "u": after["u"]}


def _recent_trades_answer(state, app, query):
    category, symbol, _, _ = _series(app, query)
    limit, now = _limit(query, f"{category}-trades"), state.clock.now_ms()
    rows = recent_trades(state.config.seed, category, symbol, now, limit, RECENT_TRADES_HORIZON_MS)
    return {"category": category, "list": rows}


def add_routes(app: web.Application) -> None:
    app.router.add_get("/v5/market/recent-trade", _rest(_recent_trades_answer))
