"""Trades and books of Hyperliquid and Binance over every recorded message, and each venue's book rule."""

import json
from decimal import Decimal
from pathlib import Path

import pytest

from apps.collectors.exchanges.binance.book import book_for
from apps.collectors.exchanges.binance.parser import parse_depth_snapshot
from apps.collectors.exchanges.binance.parser import parse_frame as binance_frame
from apps.collectors.exchanges.events import BookDelta, BookSnapshot, MalformedFrame, TradeUpdate
from apps.collectors.exchanges.hyperliquid.parser import parse_book
from apps.collectors.exchanges.hyperliquid.parser import parse_frame as hyperliquid_frame
from apps.collectors.orderbook import SyncedBook

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "exchanges"


def lines(folder, name):
    return (FIXTURES / folder / name).read_text().splitlines()


def hyperliquid_events(name):
    return [event for line in lines("hyperliquid", name) for event in hyperliquid_frame(line)]


def test_hyperliquid_trades_keep_the_venue_id_taker_side_and_exact_values():
    trades = hyperliquid_events("trades.ndjson")

    assert all(isinstance(t, TradeUpdate) for t in trades) and len(trades) >= 4
    assert trades[0] == TradeUpdate("PURR", "344983419729275", Decimal("0.27899"), Decimal("40.0"), "sell",
                                    1736985608767000)  # fmt: skip
    # One taker order, three fills: same time, distinct ids, all bought.
    assert [(t.trade_id, t.side, t.size) for t in trades[1:4]] == [
        ("1016375172059570", "buy", Decimal("0.38111")),
        ("479312521152049", "buy", Decimal("0.33458")),
        ("229986151112628", "buy", Decimal("0.83613")),
    ]


def test_hyperliquid_books_are_whole_snapshots_best_first_and_an_older_one_is_dropped():
    snapshots = hyperliquid_events("orderbook.ndjson")
    rest = parse_book(json.loads((FIXTURES / "hyperliquid" / "rest_l2Book.json").read_text()))

    for snapshot in [*snapshots, rest]:
        prices = [p for p, _ in snapshot.bids], [p for p, _ in snapshot.asks]
        assert prices[0] == sorted(prices[0], reverse=True) and prices[1] == sorted(prices[1])
        assert not snapshot.bids or not snapshot.asks or snapshot.bids[0][0] < snapshot.asks[0][0]
    purr = [s for s in snapshots if s.coin == "PURR"]
    book = SyncedBook(bridges=None, stale=None, chains=None, name="PURR")
    book.snapshot(purr[-1], complete=True)
    dropped = book.snapshot(purr[0]._replace(time_ms=purr[-1].time_ms - 1), complete=True)

    assert book.in_sync and dropped == 0 and book.stale_snapshots == 1
    assert book.book.top(1) == ([[format(purr[-1].bids[0][0], "f"), format(purr[-1].bids[0][1], "f")]],
                                [[format(purr[-1].asks[0][0], "f"), format(purr[-1].asks[0][1], "f")]])  # fmt: skip


def test_a_crossed_hyperliquid_snapshot_puts_the_book_out_of_sync_until_the_next():
    good = hyperliquid_events("orderbook.ndjson")[0]
    crossed = good._replace(bids=[(good.asks[0][0] + 1, Decimal("1"))], time_ms=good.time_ms + 1)
    book = SyncedBook(bridges=None, stale=None, chains=None)

    book.snapshot(good, complete=True)
    book.snapshot(crossed, complete=True)
    out = (book.in_sync, book.breaks, book.reason)
    book.snapshot(good._replace(time_ms=good.time_ms + 2), complete=True)

    assert out[:2] == (False, 1) and "crossed" in out[2]
    assert book.in_sync


def binance(folder, market):
    snapshot = parse_depth_snapshot(json.loads((FIXTURES / folder / "rest_depth.json").read_text()), "x")
    deltas = [e for line in lines(folder, "orderbook_diff.ndjson") for e in binance_frame(line, market)]
    assert deltas and all(isinstance(d, BookDelta) for d in deltas)
    return snapshot, deltas


def replay(market, snapshot, deltas):
    book = book_for(market, "test")
    book.snapshot(snapshot)
    applied = [book.delta(d) for d in deltas]
    return book, applied


@pytest.mark.parametrize("folder, market, dropped", [("binance_usdm", "usdm", 3), ("binance_spot", "spot", 1)])
def test_binance_depth_chains_from_the_rest_snapshot_through_every_recorded_event(folder, market, dropped):
    snapshot, deltas = binance(folder, market)
    book, applied = replay(market, snapshot, deltas)

    assert applied[:dropped] == [0] * dropped and all(applied[dropped:])  # events inside the snapshot are dropped
    assert book.in_sync and book.breaks == 0 and book.sequence == deltas[-1].last
    assert not book.book.crossed
    bids, asks = book.book.top(20)
    assert len(bids) == len(asks) == 20 and Decimal(bids[0][0]) < Decimal(asks[0][0])


@pytest.mark.parametrize("folder, market", [("binance_usdm", "usdm"), ("binance_spot", "spot")])
def test_a_missing_depth_event_breaks_the_book_and_a_fresh_snapshot_rebuilds_it_exactly(folder, market):
    snapshot, deltas = binance(folder, market)
    truth, _ = replay(market, snapshot, deltas)
    middle = len(deltas) // 2
    halfway, _ = replay(market, snapshot, deltas[: middle + 5])  # what a fresh REST snapshot would say then

    book = book_for(market, "test")
    book.snapshot(snapshot)
    for delta in deltas[:middle] + deltas[middle + 1 : middle + 5]:  # one event lost
        book.delta(delta)
    broken = (book.in_sync, book.breaks, book.needs_snapshot, book.book.top(1), "sequence gap" in book.reason)
    bids, asks = halfway.book.top(5000)
    fresh = BookSnapshot("x", None, deltas[middle + 4].last, *[
        [(Decimal(p), Decimal(s)) for p, s in side] for side in (bids, asks)
    ])  # fmt: skip
    for delta in deltas[middle + 5 :]:
        book.delta(delta)  # buffered while the snapshot is fetched
    book.snapshot(fresh)

    assert broken == (False, 1, True, ([], []), True)  # counted, and nothing served while rebuilding
    assert book.in_sync and book.book.bids == truth.book.bids and book.book.asks == truth.book.asks


@pytest.mark.parametrize(
    "frame, market",
    [
        ('{"stream":"x@depth","data":{"e":"depthUpdate","E":1,"s":"X","U":1,"u":2,"pu":0,"b":[["1","-2"]],"a":[]}}',
         "usdm"),
        ('{"stream":"x@depth","data":{"e":"depthUpdate","E":1,"s":"X","U":1,"u":2,"pu":0,"b":[],"a":[["NaN","1"]]}}',
         "usdm"),
        ('{"stream":"x@depth","data":{"e":"depthUpdate","E":1,"s":"X","U":1,"u":2,"pu":0,"b":[],"a":[["1","Infinity"]]}}',
         "usdm"),
        ('{"stream":"x@depth","data":{"e":"depthUpdate","E":1,"s":"X","U":1,"u":2,"pu":0,"b":[],"a":[["0","1"]]}}',
         "usdm"),
        ('{"stream":"x@depth","data":{"e":"depthUpdate","E":1,"s":"X","U":1,"u":2,"pu":0,"b":[],"a":[["1.5","x"]]}}',
         "usdm"),
        ('{"stream":"x@depth","data":{"e":"depthUpdate","E":1,"s":"X","U":1,"u":2,"pu":0,"b":[],"a":[["1.5"]]}}',
         "usdm"),
        ('{"stream":"x@depth","data":{"e":"depthUpdate","E":1,"s":"X","U":1,"u":2,"pu":0,"b":[],"a":[["-Infinity","1"]]}}',
         "usdm"),
        ('{"stream":"x@aggTrade","data":{"e":"aggTrade","E":1,"s":"X","p":"1","q":"1","T":1,"m":true}}', "spot"),
        ('{"stream":"x@aggTrade","data":{"e":"aggTrade","E":1,"s":"X","a":5,"p":"1","q":"-1","T":1,"m":true}}',
         "spot"),
    ],
)  # fmt: skip
def test_binance_bad_depth_and_trades_are_malformed_never_applied(frame, market):
    with pytest.raises(MalformedFrame):
        binance_frame(frame, market)


def test_binance_trades_are_aggregate_trades_with_the_takers_side():
    trades = [e for line in lines("binance_usdm", "trades.ndjson") for e in binance_frame(line, "usdm")]

    assert trades[0] == TradeUpdate("usdm:SUSHIUSDT", "87353230", Decimal("7.6120"), Decimal("297"), "buy",
                                    1626992744108000)  # fmt: skip
    assert trades[1].side == "sell"  # m: the buyer made the market, so the taker sold
    assert len({t.trade_id for t in trades}) == len(trades)


def test_a_hyperliquid_trade_without_an_id_is_malformed():
    frame = '{"channel":"trades","data":[{"coin":"BTC","side":"B","px":"1","sz":"1","time":1}]}'
    with pytest.raises(MalformedFrame, match="id"):
        hyperliquid_frame(frame)


@pytest.mark.parametrize(
    ("fill", "reason"),
    [
        ('"px":"NaN","sz":"1","time":1,"tid":5', "not finite"),
        ('"px":"1","sz":"-Infinity","time":1,"tid":5', "not finite"),
        ('"px":"0","sz":"1","time":1,"tid":5', "not positive"),
        ('"px":"1","sz":"-2","time":1,"tid":5', "not positive"),
        ('"px":"x","sz":"1","time":1,"tid":5', "not a number"),
        ('"px":"1","sz":"1","time":true,"tid":5', "time"),
        ('"px":"1","sz":"1","time":1,"tid":true', "id"),
        ('"px":"1","sz":"1","time":1,"tid":""', "id"),
    ],
)
def test_a_bad_hyperliquid_trade_is_malformed_with_its_reason(fill, reason):
    with pytest.raises(MalformedFrame, match=reason):
        hyperliquid_frame(f'{{"channel":"trades","data":[{{"coin":"BTC","side":"B",{fill}}}]}}')


def test_a_hyperliquid_trade_with_a_string_id_or_numeric_price_is_read_exactly():
    frame = '{"channel":"trades","data":[{"coin":"BTC","side":"A","px":97000.5,"sz":"0.10","time":7,"tid":"0xab"}]}'
    (trade,) = hyperliquid_frame(frame)
    assert trade == TradeUpdate("BTC", "0xab", Decimal("97000.5"), Decimal("0.10"), "sell", 7000)


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ('"a":5,"p":"NaN","q":"1","T":1,"m":true', "not finite"),
        ('"a":5,"p":"1","q":"Infinity","T":1,"m":true', "not finite"),
        ('"a":5,"p":"0","q":"1","T":1,"m":true', "not positive"),
        ('"a":5,"p":"x","q":"1","T":1,"m":true', "not a number"),
        ('"a":true,"p":"1","q":"1","T":1,"m":true', "a is not an integer"),
        ('"a":"5","p":"1","q":"1","T":1,"m":true', "a is not an integer"),
        ('"a":5,"p":"1","q":"1","T":"1","m":true', "T is not an integer"),
        ('"a":5,"p":"1","q":"1","T":1,"m":1', "m is not a boolean"),
    ],
)
def test_a_bad_binance_trade_is_malformed_with_its_reason(fields, reason):
    with pytest.raises(MalformedFrame, match=reason):
        binance_frame(f'{{"stream":"x@aggTrade","data":{{"e":"aggTrade","E":1,"s":"X",{fields}}}}}', "spot")


def test_a_binance_trade_with_a_numeric_price_or_an_empty_symbol_is_read_field_by_field():
    (trade,) = binance_frame('{"stream":"x@aggTrade","data":{"e":"aggTrade","s":"X","a":5,"p":2,"q":"0.10","T":7,'
                             '"m":false}}', "spot")  # fmt: skip
    assert trade == TradeUpdate("spot:X", "5", Decimal("2"), Decimal("0.10"), "buy", 7000)
    with pytest.raises(MalformedFrame, match="s is not"):
        binance_frame('{"stream":"x@aggTrade","data":{"e":"aggTrade","s":"","a":5,"p":"1","q":"1","T":7,"m":false}}',
                      "spot")  # fmt: skip
