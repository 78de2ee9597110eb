"""The Coinbase adapter's parser over every recorded Coinbase message, the candles it builds from trades, bad input."""

import json
from decimal import Decimal
from pathlib import Path

import pytest

from apps.collectors.exchanges import LIVE_EXCHANGES, get_adapter
from apps.collectors.exchanges.coinbase import history, protocol
from apps.collectors.exchanges.coinbase.parser import TradeCandles, parse_candle_row, parse_frame, time_us
from apps.collectors.exchanges.coinbase.symbols import UnsupportedMarket, coin_name, pair_of
from apps.collectors.exchanges.events import (
    BookSnapshot,
    BuiltCandle,
    CandleUpdate,
    Control,
    MalformedFrame,
    TradeUpdate,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "exchanges" / "coinbase"
MINUTE = 60_000
T0_BOOK = 1_761_583_440_000


def lines(name):
    return (FIXTURES / name).read_text().splitlines()


def test_the_recorded_trade_parses_exactly_with_the_takers_side():
    (raw,) = lines("trades.ndjson")

    # The wire's BUY is the maker's side (README, "Trade side"): the taker sold.
    assert parse_frame(raw) == [
        TradeUpdate("BTC-USD", "892262231", Decimal("115445.28"), Decimal("0.00015604"), "sell", 1761583479600153)
    ]


def test_recorded_acks_heartbeat_and_error_are_control_not_data():
    ack, ack_heartbeats, heartbeat, error = lines("control.ndjson")

    assert parse_frame(ack)[0].kind == "ack"
    assert parse_frame(ack_heartbeats)[0].detail == [
        {"subscriptions": {"heartbeats": ["heartbeats"], "level2": ["BTC-PERP-INTX", "ETH-PERP-INTX"]}}
    ]
    assert parse_frame(heartbeat) == []
    assert parse_frame(error) == [Control("error", "authentication failure")]
    documented = json.loads(heartbeat)
    documented["events"][0]["heartbeat_counter"] = "139651"  # the docs spell it as a string
    assert parse_frame(json.dumps(documented)) == []


def test_every_recorded_book_message_parses_best_first_and_builds_the_book():
    for raw in lines("orderbook.ndjson"):
        (snapshot,) = parse_frame(raw)
        assert snapshot == BookSnapshot(
            "BTC-PERP-INTX", 1788746278894, 0,
            [(Decimal("79943.9"), Decimal("3.0105")), (Decimal("79943.8"), Decimal("0.5"))],
            [(Decimal("79944"), Decimal("0.048")), (Decimal("79944.1"), Decimal("1.2"))],
        )  # fmt: skip
        book = get_adapter("coinbase").book.new_book(snapshot.coin)
        assert book.snapshot(snapshot, complete=True) == 4 and book.in_sync
        assert book.book.top(1) == ([["79943.9", "3.0105"]], [["79944", "0.048"]])


def _l2(sequence, kind, levels, product="BTC-USD", at_ms=T0_BOOK):
    updates = [{"side": side, "event_time": "1970-01-01T00:00:00Z", "price_level": price, "new_quantity": size}
               for side, price, size in levels]  # fmt: skip
    return json.dumps(
        {
            "channel": "l2_data",
            "client_id": "",
            "timestamp": _stamp(at_ms * 1000),
            "sequence_num": sequence,
            "events": [{"type": kind, "product_id": product, "updates": updates}],
        }
    )


def test_book_updates_apply_in_order_and_a_zero_removes_the_level():
    builder, book = TradeCandles(dict), get_adapter("coinbase").book.new_book("BTC-USD")
    (snapshot,) = builder.feed(_l2(1, "snapshot", [("bid", "99", "1"), ("offer", "101", "2"), ("bid", "100", "3")]))
    assert snapshot.bids == [(Decimal("100"), Decimal("3")), (Decimal("99"), Decimal("1"))]
    book.snapshot(snapshot, complete=True)
    builder.feed(json.dumps({"channel": "heartbeats", "client_id": "", "timestamp": _stamp(T0_BOOK * 1000),
                             "sequence_num": 2, "events": [{"heartbeat_counter": 1}]}))  # fmt: skip
    (delta,) = builder.feed(_l2(3, "update", [("bid", "100", "0"), ("offer", "100.5", "0.25"), ("bid", "99", "4")]))
    assert (delta.first, delta.last, delta.previous) == (3, 3, 2)  # another channel's message in between: fine
    assert book.delta(delta) == 3 and book.in_sync
    assert book.book.top(5) == ([["99", "4"]], [["100.5", "0.25"], ["101", "2"]])


def test_a_lost_message_breaks_every_book_of_the_connection_and_a_new_snapshot_rebuilds_it():
    builder = TradeCandles(dict)
    books = {p: get_adapter("coinbase").book.new_book(p) for p in ("BTC-USD", "ETH-USD")}
    for sequence, product in ((1, "BTC-USD"), (2, "ETH-USD")):
        (snapshot,) = builder.feed(_l2(sequence, "snapshot", [("bid", "99", "1"), ("offer", "101", "1")], product))
        books[product].snapshot(snapshot, complete=True)
    events = builder.feed(_l2(5, "update", [("bid", "98", "1")]))  # 3 and 4 were lost
    *lost, control = events
    assert control == Control("resync", "sequence_num 5 after 2: messages were lost")
    assert sorted(d.coin for d in lost) == ["BTC-USD", "ETH-USD"]
    for delta in lost:
        assert books[delta.coin].delta(delta) == 0
        assert not books[delta.coin].in_sync and books[delta.coin].needs_snapshot and books[delta.coin].breaks == 1
    fresh = TradeCandles(dict)  # the stream reconnects: a new connection, numbered from 0 again
    (snapshot,) = fresh.feed(_l2(0, "snapshot", [("bid", "97", "2"), ("offer", "102", "1")], at_ms=T0_BOOK + 1000))
    books["BTC-USD"].snapshot(snapshot, complete=True)
    assert books["BTC-USD"].in_sync and books["BTC-USD"].book.top(1) == ([["97", "2"]], [["102", "1"]])


def test_a_crossed_book_is_out_of_sync_until_the_next_snapshot():
    builder, book = TradeCandles(dict), get_adapter("coinbase").book.new_book("BTC-USD")
    (snapshot,) = builder.feed(_l2(1, "snapshot", [("bid", "99", "1"), ("offer", "101", "1")]))
    book.snapshot(snapshot, complete=True)
    (crossing,) = builder.feed(_l2(2, "update", [("bid", "102", "1")]))
    book.delta(crossing)
    assert not book.in_sync and "crossed" in book.reason and book.needs_snapshot
    (meanwhile,) = builder.feed(_l2(3, "update", [("bid", "98", "1")]))
    assert book.delta(meanwhile) == 0  # held back, not applied to a broken book
    (again,) = builder.feed(_l2(4, "snapshot", [("bid", "99", "1"), ("offer", "101", "1")]))
    book.snapshot(again, complete=True)
    assert book.in_sync and book.pending == [] and book.book.top(5) == ([["99", "1"]], [["101", "1"]])


@pytest.mark.parametrize(
    "levels",
    [[("bid", "99", "-1")], [("bid", "-99", "1")], [("ask", "99", "1")], [("bid", "x", "1")], [("bid", "99", None)]],
)
def test_bad_book_levels_are_refused_never_applied(levels):
    with pytest.raises(MalformedFrame):
        TradeCandles(dict).feed(_l2(1, "update", levels))


def test_the_recorded_rest_candles_parse_newest_first_and_exactly():
    rows = json.loads((FIXTURES / "rest_candles.json").read_text())["candles"]

    newest, older = (parse_candle_row(row, "BTC-USD", "1h", 1712192400000 + 3_600_000) for row in rows)

    assert newest == CandleUpdate(
        coin="BTC-USD", interval="1h", open_ms=1712192400000, close_ms=1712195999999,
        open=Decimal("66312.4"), high=Decimal("66331.99"), low=Decimal("66055.14"), close=Decimal("66181.6"),
        volume=Decimal("355.82896243"), num_trades=None, closed=True,
    )  # fmt: skip
    assert older.open_ms == newest.open_ms - 3_600_000 and older.closed
    with pytest.raises(MalformedFrame):
        parse_candle_row({**rows[0], "start": "1712192460"}, "BTC-USD", "1h", 0)  # not on the hour


def test_times_keep_every_digit_up_to_microseconds():
    assert time_us("2025-10-27T16:44:40.175203666Z", "t") == 1761583480175203
    assert time_us("2025-10-27T16:44:40Z", "t") == 1761583480000000
    assert time_us("2025-10-27T16:44:40.1Z", "t") == 1761583480100000
    for bad in ("2025-10-27 16:44:40Z", "2025-10-27T16:44:40.12", "2025-13-27T16:44:40Z", 1761583480, "x"):
        with pytest.raises(MalformedFrame):
            time_us(bad, "t")


@pytest.mark.parametrize(
    "raw",
    [
        "not json",
        "[1]",
        '{"channel":"market_trades","timestamp":"2025-10-27T16:44:40Z","events":[]}',  # no sequence_num
        '{"channel":"market_trades","timestamp":"2025-10-27T16:44:40Z","sequence_num":1,"events":{}}',
        '{"channel":"market_trades","timestamp":"yesterday","sequence_num":1,"events":[]}',
        '{"channel":"mystery","timestamp":"2025-10-27T16:44:40Z","sequence_num":1,"events":[]}',
        '{"channel":"heartbeats","timestamp":"2025-10-27T16:44:40Z","sequence_num":1,"events":[{"heartbeat_counter":null}]}',
    ],
)
def test_malformed_frames_are_refused(raw):
    with pytest.raises(MalformedFrame):
        parse_frame(raw)


def _trade(trade_id, at_ms, price, size, product="BTC-USD"):
    stamp = _stamp(at_ms * 1000)
    return {
        "product_id": product,
        "trade_id": str(trade_id),
        "price": price,
        "size": size,
        "time": stamp,
        "side": "BUY",
    }


def _stamp(us):
    from datetime import UTC, datetime

    return datetime.fromtimestamp(us / 1_000_000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Feed:
    """Frames of one simulated connection, numbered as Coinbase numbers them."""

    def __init__(self, wanted=(("BTC-USD", "1m"),), grace_ms=2000):
        self.plan = dict.fromkeys(wanted, [1])
        self.builder = TradeCandles(lambda: self.plan, grace_ms)
        self.sequence = 0

    def send(self, channel, at_ms, events, sequence=None):
        self.sequence = self.sequence + 1 if sequence is None else sequence
        frame = {"channel": channel, "client_id": "", "timestamp": _stamp(at_ms * 1000),
                 "sequence_num": self.sequence, "events": events}  # fmt: skip
        return self.builder.feed(json.dumps(frame))

    def trades(self, at_ms, trades, kind="update"):
        return self.send("market_trades", at_ms, [{"type": kind, "trades": trades}])

    def heartbeat(self, at_ms):
        return self.send("heartbeats", at_ms, [{"current_time": "", "heartbeat_counter": self.sequence}])


T0 = 1_761_583_440_000  # a minute's open


def test_trades_build_the_minute_exactly_and_close_it_after_the_grace():
    feed = Feed(wanted=(("BTC-USD", "1m"), ("BTC-USD", "5m"), ("ETH-USD", "1m")))
    assert feed.trades(T0 - 5000, [_trade(1, T0 - 6000, "100", "1")], kind="snapshot") == []  # before subscribing
    # Batched newest first, as Coinbase batches them: open is the earliest trade, not the first listed.
    events = feed.trades(T0 + 30_000, [_trade(4, T0 + 29_000, "101.5", "0.25"), _trade(3, T0 + 10_000, "99.75", "0.1"),
                                       _trade(2, T0 + 10_000, "100.00", "2")])  # fmt: skip
    assert [(e.interval, e.update.closed) for e in events] == [("1m", False), ("5m", False)]
    minute = events[0].update
    assert (minute.open, minute.high, minute.low, minute.close, minute.volume, minute.num_trades) == (
        Decimal("100.00"), Decimal("101.5"), Decimal("99.75"), Decimal("101.5"), Decimal("2.35"), 3,
    )  # fmt: skip
    assert events[0].complete  # opened after the snapshot: every trade of it was seen
    # A trade of the next minute does not close this one: a trade for it may still come in the grace.
    next_minute = feed.trades(T0 + MINUTE + 500, [_trade(5, T0 + MINUTE + 100, "102", "1")])
    assert [(e.interval, e.update.open_ms, e.update.closed) for e in next_minute if e.interval == "1m"] == [
        ("1m", T0 + MINUTE, False)
    ]
    late_in_grace = feed.trades(T0 + MINUTE + 900, [_trade(10, T0 + MINUTE - 1, "98", "1")])
    assert late_in_grace[0].update.low == Decimal("98") and late_in_grace[0].update.close == Decimal("98")
    assert late_in_grace[0].update.open == Decimal("100.00")  # id 10 after id 9 is not before id 2
    closed = [e for e in feed.heartbeat(T0 + MINUTE + 2000) if e.update.closed]
    # T0 + 1 min is also a five-minute boundary; that candle began before the connection did.
    assert [(e.coin, e.interval, e.update.open_ms, e.update.volume, e.complete) for e in closed] == [
        ("BTC-USD", "1m", T0, Decimal("3.35"), True), ("BTC-USD", "5m", T0 + MINUTE - 300_000, Decimal("3.35"), False),
    ]  # fmt: skip
    # Late for a closed minute: counted, and the minute is not reopened.
    assert feed.trades(T0 + MINUTE + 3000, [_trade(7, T0 + 59_000, "1", "1")]) == []
    assert feed.builder.late == 1


def test_the_interval_a_connection_starts_in_is_marked_incomplete():
    feed = Feed()
    feed.trades(T0 + 20_000, [_trade(1, T0 + 19_000, "100", "1")], kind="snapshot")
    (first,) = feed.trades(T0 + 40_000, [_trade(2, T0 + 39_000, "100", "1")])
    (second,) = [e for e in feed.trades(T0 + MINUTE + 10, [_trade(3, T0 + MINUTE + 1, "100", "1")])]
    assert not first.complete and second.complete


def test_an_empty_snapshot_still_marks_where_the_connection_began():
    feed = Feed()
    feed.trades(T0 + 20_000, [], kind="snapshot")  # a quiet product: no recent trades
    (first,) = feed.trades(T0 + 40_000, [_trade(2, T0 + 39_000, "100", "1")])
    (second,) = feed.trades(T0 + MINUTE + 10, [_trade(3, T0 + MINUTE + 1, "100", "1")])
    assert not first.complete and second.complete


def test_a_sequence_num_gap_asks_for_a_resubscribe():
    feed = Feed()
    feed.heartbeat(T0)
    feed.heartbeat(T0 + 1000)
    (control,) = feed.send("heartbeats", T0 + 2000, [{"heartbeat_counter": 9}], sequence=feed.sequence + 2)
    assert control.kind == "resync" and "messages were lost" in control.detail


def test_products_and_intervals_outside_the_plan_build_nothing():
    feed = Feed(wanted=(("BTC-USD", "1m"),))
    assert feed.trades(T0 + 1000, [_trade(1, T0, "5", "1", product="SOL-USD")]) == []
    feed.plan = {("SOL-USD", "1h"): [2]}  # the plan changed: only SOL-USD hourly now
    (built,) = feed.trades(T0 + 2000, [_trade(2, T0 + 1000, "5", "1", product="SOL-USD")])
    assert isinstance(built, BuiltCandle) and built.interval == "1h" and built.update.open_ms == T0 - T0 % 3_600_000
    feed.trades(T0 + 3000, [_trade(3, T0 + 2000, "6", "1", product="BTC-USD")])
    feed.plan = {("BTC-USD", "1m"): [1]}  # SOL-USD went: its open hour is forgotten, not closed
    closing = feed.heartbeat(T0 + 3_600_000 + 5000)
    assert [(e.coin, e.interval) for e in closing] == []


def test_symbols_and_protocol():
    assert coin_name("btc", "usd", "spot") == "BTC-USD"
    assert pair_of("ETH-USD") == ("ETH", "USD", "spot")
    with pytest.raises(UnsupportedMarket):
        coin_name("BTC", "USD", "perps")
    with pytest.raises(UnsupportedMarket):
        pair_of("BTCUSD")
    adapter = get_adapter("coinbase")
    assert "coinbase" in LIVE_EXCHANGES and not adapter.symbols.has_asset_context("spot")
    subscriptions = [protocol.candle_subscription("ETH-USD", "1m"), protocol.candle_subscription("BTC-USD", "1m"),
                     protocol.candle_subscription("BTC-USD", "5m")]  # fmt: skip
    assert [json.loads(f) for f in protocol.subscribe_frames(subscriptions)] == [
        {"type": "subscribe", "channel": "market_trades", "product_ids": ["BTC-USD", "ETH-USD"]},
        {"type": "subscribe", "channel": "heartbeats", "product_ids": ["BTC-USD", "ETH-USD"]},
    ]
    assert list(history.funding_pages("BTC-USD", 0, 10**13)) == []
    assert protocol.base_interval("4h") == "2h" and protocol.base_interval("1w") == "1d"


def test_trades_of_products_whose_trades_are_stored_come_out_with_the_takers_side_snapshot_included():
    feed = Feed(wanted=(("BTC-USD", "1m"),))
    feed.builder.trades = lambda: {"BTC-USD": [7]}
    snapshot = feed.trades(T0 + 1000, [_trade(1, T0 + 500, "100", "1"), _trade(2, T0 + 400, "5", "1", "SOL-USD")],
                           kind="snapshot")  # fmt: skip
    # Replayed recent trades are stored too (the write path keeps each trade id once): they fill a reconnect's gap.
    assert snapshot == [TradeUpdate("BTC-USD", "1", Decimal("100"), Decimal("1"), "sell", (T0 + 500) * 1000)]
    sold = {**_trade(3, T0 + 2000, "101.25", "0.5"), "side": "SELL"}
    events = feed.trades(T0 + 2500, [sold, _trade(4, T0 + 2100, "6", "2", "SOL-USD")])
    trades = [e for e in events if isinstance(e, TradeUpdate)]
    assert trades == [TradeUpdate("BTC-USD", "3", Decimal("101.25"), Decimal("0.5"), "buy", (T0 + 2000) * 1000)]
    assert [e.update.close for e in events if isinstance(e, BuiltCandle)] == [Decimal("101.25")]


@pytest.mark.parametrize(
    "change", [{"trade_id": ""}, {"trade_id": None}, {"side": "UNKNOWN"}, {"size": "-1"}, {"price": "0"}]
)
def test_a_bad_trade_is_refused_never_stored(change):
    feed = Feed()
    feed.builder.trades = lambda: {"BTC-USD": [7]}
    with pytest.raises(MalformedFrame):
        feed.trades(T0 + 1000, [{**_trade(1, T0 + 500, "100", "1"), **change}])


def test_a_new_connection_breaks_the_books_it_keeps_until_their_snapshot_on_it():
    book = get_adapter("coinbase").book.new_book("BTC-USD")
    first = TradeCandles(dict, books=lambda: {"BTC-USD": []})
    (restart, snapshot) = first.feed(_l2(0, "snapshot", [("bid", "99", "1"), ("offer", "101", "1")]))
    book.delta(restart)  # before any snapshot: nothing to break
    book.snapshot(snapshot, complete=True)
    assert book.in_sync
    reconnected = TradeCandles(dict, books=lambda: {"BTC-USD": []})
    heartbeat = json.dumps({"channel": "heartbeats", "client_id": "", "timestamp": _stamp((T0_BOOK + 5000) * 1000),
                            "sequence_num": 0, "events": [{"heartbeat_counter": 1}]})  # fmt: skip
    (restart,) = reconnected.feed(heartbeat)
    book.delta(restart)
    assert not book.in_sync and book.breaks == 1  # what happened while reconnecting is unknown
    (snapshot,) = reconnected.feed(
        _l2(1, "snapshot", [("bid", "98", "1"), ("offer", "101", "1")], at_ms=T0_BOOK + 5000)
    )
    book.snapshot(snapshot, complete=True)
    assert book.in_sync and book.book.top(1)[0] == [["98", "1"]]


@pytest.mark.parametrize(
    "change",
    [{"price": "NaN"}, {"price": "Infinity"}, {"size": "sNaN"}, {"size": "-0.1"}, {"price": "1e"}, {"price": None},
     {"size": [1]}, {"price": True}],
)  # fmt: skip
def test_a_bad_trade_in_the_middle_of_a_connection_is_refused_and_the_candle_keeps_its_state(change):
    # The second message on: the short path every flood message takes checks as much as the first message's path.
    feed = Feed()
    feed.trades(T0 + 1000, [_trade(1, T0 + 500, "100", "1")])
    with pytest.raises(MalformedFrame):
        feed.trades(T0 + 2000, [{**_trade(2, T0 + 1500, "101", "1"), **change}])
    (minute,) = feed.trades(T0 + 3000, [_trade(3, T0 + 2500, "99", "2")])
    assert (minute.update.open, minute.update.high, minute.update.low, minute.update.close) == (
        Decimal("100"), Decimal("100"), Decimal("99"), Decimal("99"),
    )  # fmt: skip
    assert (minute.update.volume, minute.update.num_trades) == (Decimal("3"), 2)
