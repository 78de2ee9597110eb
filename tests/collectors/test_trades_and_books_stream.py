"""A stream turns recorded trade and book frames into stored trades, stored snapshots and the current book."""

import threading
from decimal import Decimal
from pathlib import Path

from apps.collectors.exchanges import get_adapter
from apps.collectors.plan import BookRoute, Plan, plan_for
from apps.collectors.stream import Stream
from apps.marketdata import live_books
from apps.marketdata.records import OrderBookRecord, TradeRecord
from tests.collectors.test_binance_parser import Collected
from tests.conftest import utc

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "exchanges"
PURR = ("hyperliquid", "PURR", "USDC", "perps")


def stream_for(exchange, **plan):
    stream = Stream(get_adapter(exchange), 0, Collected(), threading.Event())
    stream.plan = Plan(**plan)
    return stream


def test_hyperliquid_trades_and_books_reach_the_batcher_and_redis():
    stream = stream_for("hyperliquid", trades={"PURR": [7]}, books={"PURR": [BookRoute(7, PURR, 5, 1.0)]})
    lines = [*(FIXTURES / "hyperliquid" / "trades.ndjson").read_text().splitlines(),
             *(FIXTURES / "hyperliquid" / "orderbook.ndjson").read_text().splitlines()]  # fmt: skip
    parse = stream.parser_for(stream.plan.endpoint)
    try:
        for line in lines:
            stream._handle(parse, line)
        current = live_books.get_book(*PURR)
    finally:
        live_books.client().delete(live_books.book_key(*PURR))

    trades = [r for r in stream.batcher.records if isinstance(r, TradeRecord)]
    books = [r for r in stream.batcher.records if isinstance(r, OrderBookRecord)]
    assert trades == [TradeRecord(7, utc(2025, 1, 16, 0, 0, 8, 767000), "344983419729275", Decimal("0.27899"),
                                  Decimal("40.0"), "sell")]  # fmt: skip
    assert stream.status.doc["malformed"] == 6  # 4 BTC trades, 2 books of other coins: not subscribed here
    # One stored snapshot per second at most, 5 levels a side; the current book has every level.
    assert len(books) == 1 and len(books[0].bids) == len(books[0].asks) == 5
    assert books[0].bids[0] == ["0.27736", "500.0"] and books[0].trading_pair_id == 7
    assert current["in_sync"] and len(current["bids"]) == 20 and current["bids"][0] == ["0.27736", "500.0"]


def test_a_pair_switched_on_gets_its_subscriptions_and_is_off_by_default(world):
    adapter = get_adapter("hyperliquid")
    before = plan_for(adapter, 0)
    world.btc_pair.collect_trades = world.btc_pair.collect_orderbook = True
    world.btc_pair.orderbook_depth = 50
    world.btc_pair.save()
    after = plan_for(adapter, 0)

    added = set(after.subscriptions) - set(before.subscriptions)
    assert not before.trades and not before.books
    assert added == {'{"coin":"BTC","type":"trades"}', '{"coin":"BTC","type":"l2Book"}'}
    assert after.trades == {"BTC": [world.btc_pair.id]}
    assert after.books["BTC"][0].depth == 50 and after.books["BTC"][0].names == ("hyperliquid", "BTC", "USD", "perps")


def test_an_unchanged_book_is_published_again_not_stored_and_a_lost_connection_marks_and_forgets_it():
    from apps.collectors.books import BookKeeper
    from apps.collectors.exchanges.events import BookSnapshot

    stored = []
    keeper = BookKeeper(get_adapter("hyperliquid"), stored.extend, redis=live_books.client())
    route = BookRoute(7, PURR, 5, 3600.0)
    snapshot = BookSnapshot("PURR", 1_700_000_000_000, None, [(Decimal("0.2"), Decimal("5"))],
                            [(Decimal("0.21"), Decimal("3"))])  # fmt: skip
    try:
        keeper.feed(snapshot, [route])
        first = live_books.get_book(*PURR)
        keeper.republish_seconds = 0  # the keep-alive due at once: the book did not change
        keeper.tick()
        again = live_books.get_book(*PURR)
        keeper.disconnected("connection lost; reconnecting")
        lost = live_books.get_book(*PURR)
        forgotten = (dict(keeper.states), set(keeper.wanted))
        keeper.feed(snapshot._replace(time_ms=1_700_000_000_500), [route])
        rebuilt = live_books.get_book(*PURR)
    finally:
        live_books.client().delete(live_books.book_key(*PURR))
        live_books.client().hdel(live_books.STATES_KEY, "/".join(PURR).lower())

    assert first["in_sync"] and again["in_sync"] and again["published_at"] > first["published_at"]
    assert again["bids"] == first["bids"] == [["0.2", "5"]]
    assert len(stored) == 2  # the first snapshot and the rebuilt one: the keep-alive stores nothing
    assert (lost["in_sync"], lost["reason"], lost["bids"]) == (False, "connection lost; reconnecting", [])
    assert forgotten == ({}, set())
    assert rebuilt["in_sync"] and rebuilt["time"] == "2023-11-14T22:13:20.500000Z"
