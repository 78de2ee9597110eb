"""Trades and order-book snapshots through the one write path: stored once, exactly, in daily partitions."""

from datetime import timedelta
from decimal import Decimal

from apps.marketdata.models import OrderBookSnapshot, Trade
from apps.marketdata.partitions import existing_partitions, forget_partitions
from apps.marketdata.records import OrderBookRecord, TradeRecord
from apps.marketdata.writer import market_data_written, write_orderbooks, write_trades
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
