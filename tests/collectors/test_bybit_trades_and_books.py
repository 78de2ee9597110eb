"""Bybit trades and books over every recorded message, and Bybit's book rule (snapshot, then u + 1)."""

import json
from decimal import Decimal
from pathlib import Path

import pytest

from apps.collectors.exchanges.bybit import book as bybit_book
from apps.collectors.exchanges.bybit import protocol
from apps.collectors.exchanges.bybit.parser import Parser, parse_trade_row, result_list
from apps.collectors.exchanges.events import BookDelta, BookSnapshot, MalformedFrame, TradeUpdate

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "exchanges" / "bybit"


def frames(name):
    return (FIXTURES / name).read_text().splitlines()


def events(name, category="linear"):
    parser = Parser(category)
    return [event for line in frames(name) for event in parser.parse(line)]


def test_every_recorded_trade_keeps_the_venue_id_taker_side_time_and_exact_values():
    trades = events("trades.ndjson")

    assert trades == [
        TradeUpdate("linear:BTCUSDT", "20f43950-d8dd-5b31-9112-a178eb6023af", Decimal("16578.50"), Decimal("0.001"),
                    "buy", 1672304486865000),
        TradeUpdate("linear:LTCUSDT", "4c7b6bdc-b4a3-5716-9c7b-bbe01dc7072f", Decimal("94.53"), Decimal("0.4"),
                    "buy", 1680688979983000),
    ]  # fmt: skip


def test_the_recorded_rest_recent_trade_row_is_the_same_trade_shape():
    (row,) = result_list(json.loads((FIXTURES / "rest_recent_trade.json").read_text()))

    assert parse_trade_row(row, "spot:BTCUSDT") == TradeUpdate(
        "spot:BTCUSDT", "2100000000007764263", Decimal("16618.49"), Decimal("0.00012"), "buy", 1672052955758000
    )


def trade_frame(**change):
    item = {"T": 1672304486865, "s": "BTCUSDT", "S": "Sell", "v": "0.001", "p": "16578.50", "i": "abc", "BT": False}
    item.update(change)
    return json.dumps({"topic": "publicTrade.BTCUSDT", "type": "snapshot", "ts": 1, "data": [
        {k: v for k, v in item.items() if v is not None}
    ]})  # fmt: skip


@pytest.mark.parametrize(
    "change", [{"i": None}, {"i": ""}, {"v": "-0.001"}, {"v": "0"}, {"p": "abc"}, {"S": "Up"}, {"T": "soon"}]
)
def test_a_trade_without_an_id_or_with_a_negative_size_is_malformed_and_counted(change):
    parser = Parser("linear")

    assert parser.parse(trade_frame(S="Sell")) == [
        TradeUpdate("linear:BTCUSDT", "abc", Decimal("16578.50"), Decimal("0.001"), "sell", 1672304486865000)
    ]
    with pytest.raises(MalformedFrame):
        parser.parse(trade_frame(**change))
    assert parser.feed(trade_frame(**change)) == [] and sum(parser.rejected.values()) == 1


def by_topic():
    parser, topics = Parser("linear"), {}
    for line in frames("orderbook.ndjson"):
        (event,) = parser.parse(line)
        topics.setdefault(json.loads(line)["topic"], []).append(event)
    return topics


def test_every_recorded_book_message_parses_with_its_update_id_and_exact_levels():
    topics = by_topic()

    assert sorted(topics) == ["orderbook.1.BTCUSDT", "orderbook.50.BTCPERP", "orderbook.50.BTCUSDT"]
    snapshot, delta = topics["orderbook.1.BTCUSDT"]
    assert snapshot == BookSnapshot("linear:BTCUSDT", 1680673820717, 7003305, [(Decimal("28552.00"), Decimal("0.047"))],
                                    [(Decimal("28552.10"), Decimal("25.433"))])  # fmt: skip
    assert delta == BookDelta("linear:BTCUSDT", 1680673821137, 7003306, 7003306, None,
                              [(Decimal("28552.00"), Decimal("0.012"))], [])  # fmt: skip
    (late,) = topics["orderbook.50.BTCUSDT"]
    assert (late.first, len(late.bids), len(late.asks)) == (177400507, 5, 7)
    assert (Decimal("30240.00"), Decimal("0")) in late.bids  # size 0: the level goes


@pytest.mark.parametrize("topic", ["orderbook.1.BTCUSDT", "orderbook.50.BTCPERP"])
def test_each_recorded_book_chains_from_its_snapshot_through_its_delta(topic):
    snapshot, delta = by_topic()[topic]
    book = bybit_book.new_book(snapshot.coin)

    book.snapshot(snapshot, complete=bybit_book.COMPLETE_SNAPSHOTS)
    applied = book.delta(delta)

    assert applied == len(delta.bids) + len(delta.asks) and book.in_sync and book.breaks == 0
    assert book.sequence == delta.last == snapshot.sequence + 1
    expected_bids = {p: s for p, s in [*snapshot.bids, *delta.bids] if s}
    assert dict(book.book.bids) == dict(sorted(expected_bids.items())) and not book.book.crossed


def test_a_recorded_delta_without_its_snapshot_is_never_applied_and_the_book_asks_for_one():
    (delta,) = by_topic()["orderbook.50.BTCUSDT"]
    book = bybit_book.new_book(delta.coin)

    assert book.delta(delta) == 0
    assert not book.in_sync and book.needs_snapshot and book.book.top(5) == ([], [])


def synthetic(update, bids=(), asks=(), kind="delta", ts=None):
    return json.dumps({"topic": "orderbook.50.BTCUSDT", "type": kind, "ts": ts or 1000 + update, "data": {
        "s": "BTCUSDT", "b": [list(level) for level in bids], "a": [list(level) for level in asks], "u": update,
        "seq": update * 7,
    }})  # fmt: skip


def feed(book, parser, frame):
    (event,) = parser.parse(frame)
    if isinstance(event, BookSnapshot):
        return book.snapshot(event, complete=bybit_book.COMPLETE_SNAPSHOTS)
    return book.delta(event)


def test_a_skipped_update_id_breaks_the_book_until_a_new_snapshot_resets_it():
    parser, book = Parser("linear"), bybit_book.new_book("linear:BTCUSDT")
    feed(book, parser, synthetic(10, [("100", "1"), ("99", "2")], [("101", "1")], kind="snapshot"))
    feed(book, parser, synthetic(11, [("99", "0")]))
    feed(book, parser, synthetic(13, [("98", "5")]))  # 12 never came
    broken = (book.in_sync, book.breaks, "sequence gap" in book.reason, book.book.top(5))
    feed(book, parser, synthetic(14, [("97", "5")]))  # waits for the snapshot: not applied, not served

    feed(book, parser, synthetic(20, [("100", "3")], [("102", "4")], kind="snapshot"))
    feed(book, parser, synthetic(21, [("100.5", "1")]))

    assert broken == (False, 1, True, ([], []))
    assert book.in_sync and book.sequence == 21 and book.pending == []
    assert book.book.top(5) == ([["100.5", "1"], ["100", "3"]], [["102", "4"]])


def test_a_snapshot_resets_the_book_even_when_u_restarts_at_one():
    parser, book = Parser("linear"), bybit_book.new_book("linear:BTCUSDT")
    feed(book, parser, synthetic(500, [("100", "1")], [("101", "1")], kind="snapshot"))
    feed(book, parser, synthetic(501, [("99", "1")]))

    feed(book, parser, synthetic(1, [("90", "7")], [("91", "8")], kind="snapshot", ts=5000))  # service restart
    feed(book, parser, synthetic(2, [("89", "1")], ts=5001))

    assert book.in_sync and book.breaks == 0 and book.sequence == 2
    assert book.book.top(5) == ([["90", "7"], ["89", "1"]], [["91", "8"]])


def test_a_delta_that_crosses_the_book_breaks_it():
    parser, book = Parser("linear"), bybit_book.new_book("linear:BTCUSDT")
    feed(book, parser, synthetic(10, [("100", "1")], [("101", "1")], kind="snapshot"))
    feed(book, parser, synthetic(11, [("101.5", "1")]))

    assert not book.in_sync and book.breaks == 1 and "crossed" in book.reason and book.needs_snapshot


@pytest.mark.parametrize(
    "frame",
    [
        synthetic(11, [("100", "-1")]),  # negative size
        synthetic(11, [("-100", "1")]),
        synthetic(11, [["100"]]),
        json.dumps({"topic": "orderbook.50.BTCUSDT", "type": "delta", "ts": 1, "data": {"b": [], "a": []}}),  # no u
        json.dumps({"topic": "orderbook.50.BTCUSDT", "type": "delta", "data": {"b": [], "a": [], "u": 3}}),  # no ts
        json.dumps({"topic": "orderbook.50.BTCUSDT", "type": "partial", "ts": 1, "data": {"b": [], "a": [], "u": 3}}),
    ],
)
def test_bad_book_messages_are_malformed_and_never_applied(frame):
    parser = Parser("linear")

    with pytest.raises(MalformedFrame):
        parser.parse(frame)
    assert parser.feed(frame) == []


def test_the_subscriptions_name_bybit_topics_on_the_series_category():
    assert protocol.trades_subscription("linear:BTCUSDT") == ["linear", "publicTrade.BTCUSDT"]
    assert protocol.book_subscription("spot:ETHUSDT") == ["spot", "orderbook.50.ETHUSDT"]
    (frame,) = protocol.unsubscribe_frames([protocol.book_subscription("linear:BTCUSDT")])
    assert json.loads(frame)["op"] == "unsubscribe" and json.loads(frame)["args"] == ["orderbook.50.BTCUSDT"]


def test_a_snapshot_older_than_the_book_is_dropped_and_counted():
    parser, book = Parser("linear"), bybit_book.new_book("linear:BTCUSDT")
    feed(book, parser, synthetic(10, [("100", "1")], [("101", "1")], kind="snapshot", ts=5000))
    feed(book, parser, synthetic(11, [("99", "1")], ts=5001))

    applied = feed(book, parser, synthetic(9, [("50", "1")], [("51", "1")], kind="snapshot", ts=4000))

    assert applied == 0 and book.stale_snapshots == 1 and book.in_sync and book.sequence == 11
    assert book.book.top(5) == ([["100", "1"], ["99", "1"]], [["101", "1"]])
