"""Coinbase trades and level2 books from the simulator over real sockets, through a stream, into PostgreSQL and Redis.

The stream runs in a thread of the test with the real batcher. The simulator drops every connection
twice, loses messages (a sequence_num gap) and sends a crossed book meanwhile. The stored tape must equal
the simulator's (taker sides), without a trade missing or stored twice across the reconnects (each new
connection's market_trades snapshot replays recent trades); every stored book snapshot must equal the
true book at its time; after the gap and after the crossed book the book is out of sync, then rebuilt
from a fresh snapshot within seconds.
"""

import asyncio
import threading
from datetime import UTC, datetime

import pytest

from apps.collectors.batcher import Batcher
from apps.collectors.exchanges import get_adapter
from apps.collectors.stream import Stream
from apps.marketdata import live_books
from apps.marketdata.models import OrderBookSnapshot, Trade
from tests.collectors.harness import control, simulator_running
from tests.waiting import wait_for

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)
BOOK = ("coinbase", "BTC", "USD", "spot")


def ms(moment):
    return int(moment.timestamp() * 1000)


def coinbase_pair():
    from apps.markets.models import Coin, Exchange, MarketType, QuoteCurrency, TradingPair

    exchange = Exchange.objects.create(name="coinbase", display_name="Coinbase")
    spot = MarketType.objects.get_or_create(name="spot", defaults={"display_name": "Spot"})[0]
    usd = QuoteCurrency.objects.get_or_create(symbol="USD", defaults={"name": "US Dollar"})[0]
    btc = Coin.objects.get_or_create(symbol="BTC", defaults={"name": "Bitcoin"})[0]
    return TradingPair.objects.create(
        exchange=exchange, coin=btc, quote=usd, market_type=spot, collect_trades=True, collect_orderbook=True,
        orderbook_depth=5, orderbook_every_seconds=0.3,
    )  # fmt: skip


def stored_trades(pair):
    return list(Trade.objects.filter(trading_pair=pair).order_by("time", "trade_id").values_list(
        "time", "trade_id", "price", "size", "side"))  # fmt: skip


def book_state(stream):
    state = stream.books.states.get("BTC-USD")
    return (state.book.breaks, state.book.in_sync, state.book.reason) if state else (0, False, "")


def test_coinbase_tape_and_books_survive_reconnects_gaps_and_a_crossed_book(transactional_db, settings):
    pair = coinbase_pair()
    # A virtual minute a second, a few trades each: a reconnect misses fewer than the snapshot replays.
    with simulator_running(coins=("BTC",)) as simulator:
        settings.KIRBY_COINBASE_WS_URL = simulator.coinbase_ws_url
        settings.KIRBY_COINBASE_REST_URL = simulator.url
        settings.KIRBY_COLLECTOR_BACKOFF_MAX_SECONDS = 0.5
        batcher = Batcher(flush_seconds=0.2, exchange="coinbase", spool=False)
        stop = threading.Event()
        stream = Stream(get_adapter("coinbase"), 0, batcher, stop)
        thread = threading.Thread(target=lambda: asyncio.run(stream.run()), daemon=True)
        thread.start()
        try:
            for drops in (1, 2):
                count = Trade.objects.count()
                wait_for(lambda c=count: Trade.objects.count() > c + 5, 15, "trades stored")
                control(simulator, "/control/drop", {})
                wait_for(lambda d=drops: stream.status.doc["reconnects"] >= d, 15, "the stream reconnected")
            # Each new connection breaks the book until that connection's snapshot (what it missed is unknown).
            wait_for(lambda: book_state(stream)[0] >= 2 and book_state(stream)[1], 10, "the book rebuilt after them")

            breaks = book_state(stream)[0]
            control(simulator, "/control/coinbase/sequence-gap", {"count": 2})
            wait_for(lambda: book_state(stream)[0] > breaks, 10, "the gap put the book out of sync")
            assert "sequence gap" in book_state(stream)[2]
            wait_for(lambda: book_state(stream)[1], 5, "the book rebuilt from a fresh snapshot after the gap")
            assert stream.status.doc["reconnects"] >= 3  # the gap made the stream reconnect and resubscribe

            breaks, reconnects = book_state(stream)[0], stream.status.doc["reconnects"]
            control(simulator, "/control/book-fault", {"venue": "coinbase", "kind": "crossed", "count": 1})
            wait_for(lambda: book_state(stream)[0] > breaks, 10, "the crossed book put it out of sync")
            assert "crossed" in book_state(stream)[2]
            wait_for(lambda: book_state(stream)[1], 5, "the book rebuilt by resubscribing its level2")
            assert stream.status.doc["reconnects"] == reconnects  # resubscribed on the same connection

            count = Trade.objects.count()
            wait_for(lambda: Trade.objects.count() > count + 5, 15, "trades stored after the faults")
            current = live_books.get_book(*BOOK)
        finally:
            stop.set()
            thread.join(15)
            batcher.close()
            live_books.client().delete(live_books.book_key(*BOOK))
        trades = stored_trades(pair)
        first, last = ms(trades[0][0]), ms(trades[-1][0])
        tape = control(simulator, f"/truth/trades?exchange=coinbase&coin=BTC-USD&start={first}&end={last + 1}")
        snapshots = list(OrderBookSnapshot.objects.filter(trading_pair=pair).order_by("time"))
        truths = [
            control(simulator, f"/truth/book?exchange=coinbase&coin=BTC-USD&time={ms(s.time)}") for s in snapshots
        ]

    expected = [(datetime.fromtimestamp(t["time"] / 1000, UTC), t["trade_id"], t["price"], t["size"], t["side"])
                for t in tape]  # fmt: skip
    assert {t["side"] for t in tape} == {"buy", "sell"}
    assert [(t, i, format(p, "f"), format(s, "f"), side) for t, i, p, s, side in trades] == expected
    assert len(snapshots) >= 5
    for snapshot, truth in zip(snapshots, truths, strict=True):
        assert ms(snapshot.time) == truth["time"]
        assert [[format(p, "f"), format(s, "f")] for p, s in snapshot.bids] == truth["bids"][:5]
        assert [[format(p, "f"), format(s, "f")] for p, s in snapshot.asks] == truth["asks"][:5]
    assert current["in_sync"] and len(current["bids"]) == 20
