"""Trades and order-book snapshots through the one write path: stored once, exactly, in daily partitions."""

from datetime import timedelta, timezone
from decimal import Decimal

import orjson

from apps.marketdata.models import OrderBookSnapshot, Trade
from apps.marketdata.partitions import existing_partitions, forget_partitions
from apps.marketdata.records import OrderBookRecord, TradeRecord
from apps.marketdata.tick_queries import trade_rows
from apps.marketdata.writer import market_data_written, write_orderbooks, write_trades
from apps.streaming import fanout, groups
from lib.http.params import Window
from tests.conftest import utc

T0 = utc(2026, 11, 20, 23, 59, 59, 999000)


def trade(pair, trade_id, time=T0, price="97000.5", size="0.00012", side="buy"):
    return TradeRecord(pair.id, time, trade_id, price, size, side)


def stored_trades(pair):
    return list(
        Trade.objects.filter(trading_pair=pair)
        .order_by("time", "trade_id")
        .values_list("time", "trade_id", "price", "size", "side")
    )


def test_a_replayed_trade_is_stored_once_and_not_announced_again(world, django_capture_on_commit_callbacks):
    announced = []

    def listen(sender, rows, **kwargs):
        announced.extend(rows)

    market_data_written.connect(listen, sender="trades")
    try:
        with django_capture_on_commit_callbacks(execute=True):
            first = write_trades([trade(world.btc_pair, "101"), trade(world.btc_pair, "102", side="sell")])
        # A reconnect replays the last trade; a string id in the same millisecond.
        with django_capture_on_commit_callbacks(execute=True):
            again = write_trades([trade(world.btc_pair, "102", side="sell"), trade(world.btc_pair, "0xab-1")])
    finally:
        market_data_written.disconnect(listen, sender="trades")
        forget_partitions()  # those the callbacks noted are rolled back with the test

    assert (first.inserted, again.inserted, again.unchanged) == (2, 1, 1)
    assert [(r.trade_id, r.side) for r in announced] == [("101", "buy"), ("102", "sell"), ("0xab-1", "buy")]
    assert stored_trades(world.btc_pair) == [
        (T0, "0xab-1", Decimal("97000.5"), Decimal("0.00012"), "buy"),
        (T0, "101", Decimal("97000.5"), Decimal("0.00012"), "buy"),
        (T0, "102", Decimal("97000.5"), Decimal("0.00012"), "sell"),
    ]


def test_trades_are_partitioned_by_day_and_keep_full_precision(world):
    later = T0 + timedelta(microseconds=1001)  # the next day, 00:00:00.000001
    write_trades([trade(world.btc_pair, "1"), trade(world.btc_pair, "2", time=later, price="0.000000012345678901")])

    assert {"trades_p2026_11_20", "trades_p2026_11_21"} <= set(existing_partitions("trades"))
    assert [(t, p) for t, _, p, _, _ in stored_trades(world.btc_pair)] == [
        (T0, Decimal("97000.5")),
        (later, Decimal("0.000000012345678901")),
    ]


def test_bad_trades_are_rejected_and_the_rest_stored(world):
    result = write_trades(
        [
            trade(world.btc_pair, "1", size="-1"),
            trade(world.btc_pair, "", price="1"),
            trade(world.btc_pair, "3", side="B"),
            trade(world.btc_pair, "4", price="0"),
            trade(world.btc_pair, "5"),
        ]
    )

    assert (result.rejected, result.inserted) == (4, 1)
    assert [row[1] for row in stored_trades(world.btc_pair)] == ["5"]


def test_book_snapshots_store_exact_levels_and_refuse_crossed_or_negative_books(world):
    bids = [["97000.5", "1.25"], ["96999", "0.001"]]
    asks = [[Decimal("97001"), Decimal("3")]]
    result = write_orderbooks(
        [
            OrderBookRecord(world.btc_pair.id, T0, 42, bids, asks),
            OrderBookRecord(world.btc_pair.id, T0 + timedelta(seconds=1), 43, [["97002", "1"]], asks),  # crossed
            OrderBookRecord(world.btc_pair.id, T0 + timedelta(seconds=2), 44, [["97000", "-1"]], asks),
            OrderBookRecord(world.btc_pair.id, T0 + timedelta(seconds=3), None, [], []),
        ]
    )

    assert (result.inserted, result.rejected) == (2, 2)
    stored = list(OrderBookSnapshot.objects.filter(trading_pair=world.btc_pair).order_by("time"))
    assert [(s.sequence, s.bids, s.asks) for s in stored] == [
        (42, [[Decimal("97000.5"), Decimal("1.25")], [Decimal("96999"), Decimal("0.001")]], [[97001, 3]]),
        (None, [], []),
    ]
    assert "orderbook_snapshots_p2026_11_21" in existing_partitions("orderbook_snapshots")


def announced_when_written(batches, captured):
    """For each batch written (committed one by one; ``captured``: the fixture django_capture_on_commit_callbacks):
    the rows announced, and the trade items a /ws client of the pair receives for them."""
    announced, received = [], []

    def listen(sender, rows, copy_texts=None, **kwargs):
        announced[-1].extend(rows)
        for _, message in fanout.group_messages(sender, rows, copy_texts=copy_texts):
            received[-1].extend(orjson.loads(groups.rendered(message)["texts"][0][1])["data"])

    market_data_written.connect(listen, sender="trades")
    try:
        for batch in batches:
            announced.append([])
            received.append([])
            with captured(execute=True):
                write_trades(batch)
    finally:
        market_data_written.disconnect(listen, sender="trades")
    return announced, received


def served_by_rest(pair, trade_ids):
    """The REST items of the stored trades with ``trade_ids``, as JSON gives them to a client."""
    items, _ = trade_rows(pair.id, Window(start=None, end=None, limit=1000))
    return [item for item in orjson.loads(groups.dumps(items)) if item["trade_id"] in trade_ids]


def test_new_trades_among_stored_ones_are_announced_as_stored_and_replays_are_not(
    world, django_capture_on_commit_callbacks
):
    pair = world.btc_pair
    first = [trade(pair, "1", price=Decimal("1.5E+3"), size=Decimal("1.0E-5")), trade(pair, "2", price=Decimal("7"))]
    # Same millisecond as stored trades, all new: the batch cannot be a plain insert.
    second = [trade(pair, "3", price=Decimal("97000.50"), size=Decimal("2")), trade(pair, "4", price=Decimal("8"))]
    # A reconnect's replay: two stored, one new; then the first batch again, all stored.
    third = [second[1], trade(pair, "5", price=Decimal("9")), first[0]]
    announced, received = announced_when_written([first, second, third, first], django_capture_on_commit_callbacks)
    forget_partitions()

    assert [[row.trade_id for row in batch] for batch in announced] == [["1", "2"], ["3", "4"], ["5"], []]
    for batch, items in zip(announced, received, strict=True):  # what subscribers get is what REST serves
        assert items == served_by_rest(pair, {row.trade_id for row in batch})
    assert received[0][0] == {"time": "2026-11-20T23:59:59.999000Z", "trade_id": "1", "price": "1500",
                              "size": "0.000010", "side": "buy"}  # fmt: skip


def test_a_flood_batch_is_announced_in_trade_order_as_rest_serves_it(world, django_capture_on_commit_callbacks):
    """The straight COPY's text is what travels: ids of several lengths, times out of order, a tab in an id."""
    pair = world.btc_pair
    later = T0 + timedelta(milliseconds=1)
    batch = [
        trade(pair, "10", time=later, price=Decimal("1E-7")),
        trade(pair, "9", time=later),
        trade(pair, "8", price=Decimal("5")),
        trade(pair, "a\tb\\c", time=later, size=Decimal("3.50")),
    ]
    (announced,), (received,) = announced_when_written([batch], django_capture_on_commit_callbacks)
    forget_partitions()

    assert len(announced) == 4
    assert [item["trade_id"] for item in received] == ["8", "9", "10", "a\tb\\c"]
    assert received == served_by_rest(pair, {"8", "9", "10", "a\tb\\c"})
    assert received[2]["price"] == "0.0000001" and received[3]["size"] == "3.50"


def test_trades_in_another_time_zone_are_announced_in_utc(world, django_capture_on_commit_callbacks):
    paris = timezone(timedelta(hours=1))
    record = trade(world.btc_pair, "7", time=T0.astimezone(paris), price=Decimal("1"), size=Decimal("1"))
    (announced,), (received,) = announced_when_written([[record]], django_capture_on_commit_callbacks)
    forget_partitions()

    assert len(announced) == 1
    assert received == [{"time": "2026-11-20T23:59:59.999000Z", "trade_id": "7", "price": "1", "size": "1",
                         "side": "buy"}]  # fmt: skip


def test_a_trade_twice_in_one_batch_is_stored_and_announced_once(world, django_capture_on_commit_callbacks):
    once, other = (trade(world.btc_pair, trade_id, price=Decimal("2"), size=Decimal("3")) for trade_id in "89")
    (announced,), _ = announced_when_written([[once, other, once]], django_capture_on_commit_callbacks)
    forget_partitions()

    assert sorted(row.trade_id for row in announced) == ["8", "9"]
    assert [row[1] for row in stored_trades(world.btc_pair)] == ["8", "9"]


def test_venue_ids_that_copy_text_would_escape_are_stored_as_given(world):
    odd = ["a\\b", "tab\there", "new\nline", "plain-1"]
    write_trades([trade(world.btc_pair, trade_id, price=Decimal("2"), size=Decimal("3")) for trade_id in odd])
    write_trades([trade(world.btc_pair, "plain-2", time=T0 + timedelta(seconds=1), price=Decimal("2.50"),
                        size=Decimal("1E-8"), side="sell")])  # fmt: skip

    assert sorted(row[1] for row in stored_trades(world.btc_pair)) == sorted([*odd, "plain-2"])
    assert stored_trades(world.btc_pair)[-1] == (
        T0 + timedelta(seconds=1),
        "plain-2",
        Decimal("2.50"),
        Decimal("1E-8"),
        "sell",
    )
