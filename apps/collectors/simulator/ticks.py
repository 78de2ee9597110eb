"""The market's trades and order books as a venue publishes them: a deterministic tape and book per coin.

Trades are the market's ticks (market.py) with a venue id and the taker's
side; the book of a coin at a moment is a function of the seed, the coin
and the half-second block (Hyperliquid pushes at most one ``l2Book`` per
block): 20 levels a side around the minute's price, never crossed. The
collector's stored rows are compared with these (``/truth/trades``,
``/truth/book``).
"""

from .market import MINUTE, Market, decimal_text, number, price_ticks, profile

BOOK_BLOCK_MS = 500
BOOK_LEVELS = 20


def trades(market: Market, coin: str, start_ms: int, end_ms: int) -> list[dict]:
    """Hyperliquid trade objects of ``[start_ms, end_ms)``, in time order."""
    found = []
    minute = start_ms // MINUTE * MINUTE
    while minute < end_ms:
        for tick in market.ticks(coin, minute):
            if start_ms <= tick.time < end_ms:
                tid = number(market.seed, coin, "tid", tick.time) % 10**15
                side = "B" if number(market.seed, coin, "side", tick.time) % 2 else "A"
                found.append({"coin": coin, "side": side, "px": decimal_text(tick.price), "sz": decimal_text(tick.size),
                              "time": tick.time, "hash": f"0x{tid:064x}", "tid": tid})  # fmt: skip
        minute += MINUTE
    return found


def book(market: Market, coin: str, moment_ms: int) -> dict:
    """The ``l2Book`` data of the block holding ``moment_ms``: bids best first, then asks best first."""
    block = moment_ms // BOOK_BLOCK_MS * BOOK_BLOCK_MS
    p = profile(coin)
    mid = price_ticks(market.seed, coin, block // MINUTE)
    step = max(1, p.base_ticks // 100_000)

    def level(side, k, price):
        units = 1 + number(market.seed, coin, "book", block, side, k) % p.max_size_units
        return {"px": decimal_text(p.price(price)), "sz": decimal_text(p.size(units)), "n": 1 + k % 3}

    bids = [level("b", k, mid - step * (k + 1)) for k in range(BOOK_LEVELS)]
    asks = [level("a", k, mid + step * (k + 1)) for k in range(BOOK_LEVELS)]
    return {"coin": coin, "time": block, "levels": [bids, asks]}
