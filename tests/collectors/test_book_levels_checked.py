"""Every venue's book levels are checked each time they come, even when the same text came before.

The parsers keep the Decimal of price and size text they have already
checked (prices repeat, and parsing them was the book path's largest cost);
these tests show that a text seen before in another role, or a level of the
wrong shape made of known texts, is still refused.
"""

import json
from decimal import Decimal

import pytest

from apps.collectors.exchanges.binance.parser import parse_frame as binance_frame
from apps.collectors.exchanges.bybit.parser import Parser as BybitParser
from apps.collectors.exchanges.coinbase.parser import parse_frame as coinbase_frame
from apps.collectors.exchanges.events import MalformedFrame
from apps.collectors.exchanges.hyperliquid.parser import parse_frame as hyperliquid_frame
from apps.collectors.exchanges.okx.parser import parse_frame as okx_frame

MISSING = object()


def _pairs(levels):
    return [[p for p in level if p is not MISSING] if isinstance(level, tuple) else level for level in levels]


def binance(levels):
    frame = {"stream": "x@depth", "data": {"e": "depthUpdate", "E": 1, "s": "X", "U": 1, "u": 2, "pu": 0,
                                           "b": _pairs(levels), "a": []}}  # fmt: skip
    return binance_frame(json.dumps(frame), "usdm")


def bybit(levels):
    frame = {"topic": "orderbook.50.X", "type": "delta", "ts": 1,
             "data": {"s": "X", "b": _pairs(levels), "a": [], "u": 2, "seq": 2}}  # fmt: skip
    return BybitParser().parse(json.dumps(frame))


def okx(levels):
    # OKX levels are [px, sz, "0", orders]: one without its size is left short, not shifted.
    sides = [[*level, "0", "1"] if isinstance(level, list) and len(level) == 2 else level for level in _pairs(levels)]
    frame = {"arg": {"channel": "books", "instId": "X-USDT"}, "action": "update",
             "data": [{"asks": [], "bids": sides, "ts": "1", "checksum": 0, "prevSeqId": 1, "seqId": 2}]}  # fmt: skip
    return okx_frame(json.dumps(frame), "public")


def _fields(level, names):
    if not isinstance(level, tuple):
        return level
    return {name: value for name, value in zip(names, level, strict=True) if value is not MISSING}


def coinbase(levels):
    updates = [{"side": "bid", "event_time": "2026-01-01T00:00:00Z", **_fields(level, ("price_level", "new_quantity"))}
               if isinstance(level, tuple) else level for level in levels]  # fmt: skip
    frame = {"channel": "l2_data", "client_id": "", "timestamp": "2026-01-01T00:00:00.000001Z", "sequence_num": 2,
             "events": [{"type": "update", "product_id": "X-USD", "updates": updates}]}  # fmt: skip
    return coinbase_frame(json.dumps(frame))


def hyperliquid(levels):
    side = [{**_fields(level, ("px", "sz")), "n": 1} if isinstance(level, tuple) else level for level in levels]
    frame = {"channel": "l2Book", "data": {"coin": "X", "time": 1, "levels": [side, []]}}
    return hyperliquid_frame(json.dumps(frame))


VENUES = [binance, bybit, okx, coinbase, hyperliquid]
GOOD = [("1", "0"), ("2.50", "3"), ("7", "1.5")]
BAD = {
    "a zero price (a size seen before)": [("2.50", "3"), ("0", "1")],
    "a negative size": [("2.50", "3"), ("1", "-3")],
    "a negative price": [("-2.50", "3")],
    "NaN": [("NaN", "1")],
    "Infinity": [("1", "Infinity")],
    "-Infinity": [("-Infinity", "1")],
    "not a number": [("1", "x")],
    "a missing size": [("2.50", MISSING)],
    "a missing price": [(MISSING, "3")],
    "a null price": [(None, "3")],
    "a level that is text made of known texts": ["17"],
}


@pytest.mark.parametrize("venue", VENUES, ids=lambda venue: venue.__name__)
def test_good_levels_keep_their_exact_text(venue):
    for _ in range(2):  # the second time from what was kept
        (event,) = venue(GOOD)
        assert event.bids == [(Decimal("1"), Decimal("0")), (Decimal("2.50"), Decimal("3")),
                              (Decimal("7"), Decimal("1.5"))]  # fmt: skip
        assert [str(price) for price, _ in event.bids] == ["1", "2.50", "7"]


@pytest.mark.parametrize("venue", VENUES, ids=lambda venue: venue.__name__)
@pytest.mark.parametrize("case", BAD)
def test_bad_levels_are_malformed_after_good_ones(venue, case):
    venue(GOOD)  # every text of the bad levels but the bad one was accepted just before
    with pytest.raises(MalformedFrame):
        venue(BAD[case])


def test_the_kept_numbers_stay_bounded_and_right_when_prices_wander(monkeypatch):
    from apps.collectors.exchanges import events

    monkeypatch.setattr(events._Checked, "LIMIT", 16)
    wandering = [(f"{100 + n}.5", f"0.{n + 1}") for n in range(200)]
    for start in range(0, len(wandering), 5):
        (event,) = binance(wandering[start : start + 5])
        assert event.bids == [(Decimal(p), Decimal(s)) for p, s in wandering[start : start + 5]]
    assert len(events._PRICES) <= 16 and len(events._SIZES) <= 16


def _delta(first, bids, asks):
    from apps.collectors.exchanges.events import BookDelta

    level = lambda side: [(Decimal(p), Decimal(s)) for p, s in side]  # noqa: E731
    return BookDelta("usdm:X", first, first, first, first - 1, level(bids), level(asks))


@pytest.mark.parametrize("crossing", [([("101", "1")], []), ([], [("99.5", "1")])], ids=["bid", "ask"])
def test_a_book_is_crossed_by_a_new_level_after_size_changes_and_removals(crossing):
    from apps.collectors.exchanges.binance.book import usdm_book
    from apps.collectors.exchanges.events import BookSnapshot

    book = usdm_book("usdm:X")
    book.snapshot(BookSnapshot("usdm:X", 1, 10, [(Decimal("100"), Decimal("1")), (Decimal("99"), Decimal("1"))],
                               [(Decimal("101"), Decimal("1")), (Decimal("102"), Decimal("1"))]))  # fmt: skip
    assert book.delta(_delta(10, [("100", "2")], [("101", "3")])) == 2  # sizes change: still in sync
    assert book.delta(_delta(11, [("99", "0")], [("102", "0")])) == 2 and book.in_sync  # removals too
    book.delta(_delta(12, *crossing))
    assert not book.in_sync and "crossed" in book.reason and book.needs_snapshot


def test_a_crossed_rest_snapshot_breaks_on_its_first_delta_even_one_that_only_changes_a_size():
    from apps.collectors.exchanges.binance.book import usdm_book
    from apps.collectors.exchanges.events import BookSnapshot

    book = usdm_book("usdm:X")
    book.snapshot(BookSnapshot("usdm:X", 1, 10, [(Decimal("101"), Decimal("1"))], [(Decimal("100"), Decimal("1"))]))
    book.delta(_delta(10, [("101", "2")], []))
    assert not book.in_sync and "crossed" in book.reason
