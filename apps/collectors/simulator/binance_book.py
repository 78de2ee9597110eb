"""Binance's order books (EXCHANGES.md sections 2.2 and 3): a true book per symbol, diff-depth events and REST depth.

The book of a symbol is a pure function of the seed, the market and the
100 ms block (virtual time) it is asked at: ``LEVELS`` price levels a side,
one price step apart around the minute's price (never crossed), each level's
size redrawn every few blocks (each price has its own period), so most
events change a few levels and a new minute's price moves the whole book.
Update ids grow with the blocks (``update_id``); a diff-depth event covers
the blocks ``(a, b]`` of one step of a grid all connections share:
``U = update_id(a) + 1``, ``u = update_id(b)``, ``pu = update_id(a)``
(USD-M only), with every level that changed (size ``"0"`` for a level that
left the book), so applying it turns the book at ``a`` (or any later block
up to ``b``) into the book at ``b``. ``GET /fapi/v1/depth`` and
``/api/v3/depth`` answer the book of the current block with
``lastUpdateId = update_id(block)``. ``book`` is the truth a collector's
stored snapshots are compared with.
"""

from .market import MINUTE, decimal_text, number, price_ticks, profile

BLOCK_MS = 100
LEVELS = 20
USDM_DEPTH_LIMITS = (5, 10, 20, 50, 100, 500, 1000)


def block_of(moment_ms: int) -> int:
    return moment_ms // BLOCK_MS


def update_id(seed: int, symbol: str, block: int) -> int:
    """The last update id of ``block``: strictly growing, by 1 to 10 a block."""
    return block * 10 + number(seed, symbol, "depth-id", block) % 10


def _prices(seed: int, coin: str, minute: int):
    """(bid ticks best first, ask ticks best first) of the minute."""
    mid = price_ticks(seed, coin, minute)
    step = max(1, profile(coin).base_ticks // 100_000)
    return [mid - step * (k + 1) for k in range(LEVELS)], [mid + step * (k + 1) for k in range(LEVELS)]


def _epoch(seed: int, coin: str, side: str, ticks: int, block: int) -> int:
    """Which redraw of its size the level is in at ``block``."""
    period = 10 + number(seed, coin, "depth-period", side, ticks) % 190
    phase = number(seed, coin, "depth-phase", side, ticks) % period
    return (block + phase) // period


def _size(seed: int, coin: str, side: str, ticks: int, block: int) -> int:
    epoch = _epoch(seed, coin, side, ticks, block)
    return 1 + number(seed, coin, "depth-size", side, ticks, epoch) % profile(coin).max_size_units


def _levels(seed, coin, block):
    bids, asks = _prices(seed, coin, block * BLOCK_MS // MINUTE)
    return [(t, _size(seed, coin, "b", t, block)) for t in bids], [(t, _size(seed, coin, "a", t, block)) for t in asks]


def _wire(coin, levels):
    p = profile(coin)
    return [[decimal_text(p.price(ticks)), decimal_text(p.size(units))] for ticks, units in levels]


def book(seed: int, coin: str, block: int) -> dict:
    """The true book at ``block``: bids and asks best first as [price, size] text, and its last update id."""
    bids, asks = _levels(seed, coin, block)
    return {"bids": _wire(coin, bids), "asks": _wire(coin, asks)}


def changes(seed: int, coin: str, a: int, b: int):
    """(bids, asks) that turn the book at any block of ``[a, b]`` into the book at ``b``; size 0 removes a level."""
    bids, asks = _levels(seed, coin, b)
    first, last = a * BLOCK_MS // MINUTE, b * BLOCK_MS // MINUTE
    if first == last:  # the same prices: only the levels whose size was redrawn since ``a``
        keep = [
            [(t, s) for t, s in levels if _epoch(seed, coin, side, t, a) != _epoch(seed, coin, side, t, b)]
            for side, levels in (("b", bids), ("a", asks))
        ]
        return keep[0], keep[1]
    gone_bids, gone_asks = set(), set()
    for minute in range(first, last):  # every price some block of [a, b) had, removed unless it is at ``b``
        old_bids, old_asks = _prices(seed, coin, minute)
        gone_bids.update(old_bids)
        gone_asks.update(old_asks)
    gone_bids -= {t for t, _ in bids}
    gone_asks -= {t for t, _ in asks}
    return bids + [(t, 0) for t in sorted(gone_bids, reverse=True)], asks + [(t, 0) for t in sorted(gone_asks)]


def depth_event(seed: int, coin: str, symbol: str, a: int, b: int, now_ms: int, usdm: bool, cross=False) -> dict:
    """The ``depthUpdate`` covering the blocks ``(a, b]``; ``cross``: a bid above the best ask (a venue fault)."""
    bids, asks = changes(seed, coin, a, b)
    if cross:
        best_ask = _prices(seed, coin, b * BLOCK_MS // MINUTE)[1][0]
        bids = [(best_ask + 1, 1), *bids]
    data = {"e": "depthUpdate", "E": now_ms, "s": symbol, "U": update_id(seed, symbol, a) + 1,
            "u": update_id(seed, symbol, b), "b": _wire(coin, bids), "a": _wire(coin, asks)}  # fmt: skip
    if usdm:
        data["T"] = b * BLOCK_MS  # the book's time: the block it stands at
        data["pu"] = update_id(seed, symbol, a)
    else:
        data["E"] = b * BLOCK_MS
    return data


def rest_depth(seed: int, coin: str, symbol: str, block: int, now_ms: int, limit: int, usdm: bool) -> dict:
    """``GET /fapi/v1/depth`` (USD-M: with ``E`` and ``T``) or ``/api/v3/depth`` at ``block``."""
    levels = book(seed, coin, block)
    body = {"lastUpdateId": update_id(seed, symbol, block)}
    if usdm:
        body.update(E=now_ms, T=block * BLOCK_MS)
    return {**body, "bids": levels["bids"][:limit], "asks": levels["asks"][:limit]}


def depth_weight(limit: int, usdm: bool) -> int:
    if usdm:
        return 2 if limit <= 50 else 5 if limit <= 100 else 10 if limit <= 500 else 20
    return 5 if limit <= 100 else 25 if limit <= 500 else 50 if limit <= 1000 else 250
