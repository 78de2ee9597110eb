"""OKX's trades and ``books`` over the deterministic markets: a tape and a true book per instrument.

A swap and the spot pair of one coin are different markets (okx.SEED_OFFSET).
Trades are the market's ticks, at distinct whole seconds, each second its
``tradeId`` (unique and increasing, as OKX's, so history-trades pages by
it), the taker's side from the seed; a swap's ``sz`` counts contracts
(okx.CONTRACT_VALUES). The book of an instrument at a moment is a function
of the seed and the 100 ms block (OKX pushes ``books`` about every 100 ms):
``BOOK_LEVELS`` levels a side around the minute's price, never crossed, level
``k`` changing size every ``1 + k % 4`` blocks; its ``seqId`` is the block's
number, so consecutive pushes chain (``prevSeqId`` = the last push's
``seqId``) however many blocks passed between them. ``/truth/trades`` and
``/truth/book`` answer from here with ``exchange=okx``.
"""

from decimal import Decimal

from .market import MINUTE, decimal_text, number, price_ticks, profile
from .okx import SWAP, contract_value, instrument, market

BOOK_BLOCK_MS = 100
BOOK_LEVELS = 20
TRADE_ID_MS = 1000  # a tradeId is its trade's whole second: the market trades at most once a second


def _size(coin, kind, coin_size: Decimal) -> str:
    return decimal_text(coin_size / contract_value(coin) if kind == SWAP else coin_size)


def trades(seed: int, inst_id: str, start_ms: int, end_ms: int) -> list[dict]:
    """OKX ``trades`` data items of ``[start_ms, end_ms)``, in time order."""
    coin, kind = instrument(inst_id)
    simulated, found = market(seed, kind), []
    minute = start_ms // MINUTE * MINUTE
    while minute < end_ms:
        for tick in simulated.ticks(coin, minute):
            if start_ms <= tick.time < end_ms:
                side = "buy" if number(simulated.seed, inst_id, "side", tick.time) % 2 else "sell"
                found.append({"instId": inst_id, "tradeId": str(tick.time // TRADE_ID_MS),
                              "px": decimal_text(tick.price), "sz": _size(coin, kind, tick.size), "side": side,
                              "ts": str(tick.time), "count": "1"})  # fmt: skip
        minute += MINUTE
    return found


def seq_id(moment_ms: int) -> int:
    return moment_ms // BOOK_BLOCK_MS


def book(seed: int, inst_id: str, moment_ms: int) -> dict:
    """The whole book of the block holding ``moment_ms``: OKX's data item (bids best first, asks best first)."""
    coin, kind = instrument(inst_id)
    simulated, block = market(seed, kind), moment_ms // BOOK_BLOCK_MS
    p = profile(coin)
    mid = price_ticks(simulated.seed, coin, block * BOOK_BLOCK_MS // MINUTE)
    step = max(1, p.base_ticks // 100_000)

    def level(side, k, price):
        units = 1 + number(simulated.seed, inst_id, "book", side, k, block // (1 + k % 4)) % p.max_size_units
        return [decimal_text(p.price(price)), _size(coin, kind, p.size(units)), "0", str(1 + k % 3)]

    return {
        "asks": [level("a", k, mid + step * (k + 1)) for k in range(BOOK_LEVELS)],
        "bids": [level("b", k, mid - step * (k + 1)) for k in range(BOOK_LEVELS)],
        "ts": str(block * BOOK_BLOCK_MS),
        "checksum": 0,  # OKX sends 0 since 2026-06-23
        "seqId": seq_id(moment_ms),
    }


def changes(before: dict, after: dict) -> dict:
    """The levels of ``after`` that differ from ``before`` per side; a level gone is sent with size ``"0"``."""
    diff = {}
    for side in ("asks", "bids"):
        old = {level[0]: level for level in before[side]}
        new = {level[0]: level for level in after[side]}
        diff[side] = [level for price, level in new.items() if old.get(price) != level]
        diff[side] += [[price, "0", "0", "0"] for price in old if price not in new]
    return diff
