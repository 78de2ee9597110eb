"""Bybit trades and books from the simulator over real sockets, through a stream, into PostgreSQL and Redis.

The stream runs in a thread of the test (as in a collector worker) with the real batcher. The simulator
drops every connection twice (Bybit sends no trades from before a subscription: the stream reads the
recent ones over REST after each connect), then breaks the book: an update id skipped while the next
snapshot is lost, and a delta that crosses the book. The stored tape must equal the simulator's, without
a trade missing or stored twice; the book is marked out of sync in Redis, resubscribed until a snapshot
comes, and every stored snapshot is the true book at its time.
"""

import asyncio
import threading
import time
from datetime import UTC, datetime

import pytest

from apps.collectors.batcher import Batcher
from apps.collectors.exchanges import get_adapter
from apps.collectors.stream import Stream
from apps.marketdata import live_books
from apps.marketdata.models import OrderBookSnapshot, Trade
from apps.markets.models import Starlisting
from lib.metrics import BOOK_RESYNCS
from tests.collectors.harness import BinanceWorld, control, simulator_running
from tests.waiting import wait_for

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)
BOOK = ("bybit", "BTC", "USDT", "perps")
SERIES = "linear:BTCUSDT"


@pytest.fixture
def world(transactional_db, django_db_serialized_rollback):
    return BinanceWorld("bybit", "Bybit")


def ms(moment):
    return int(moment.timestamp() * 1000)


def stored_trades(pair):
    return list(Trade.objects.filter(trading_pair=pair).order_by("time", "trade_id").values_list(
        "time", "trade_id", "price", "size", "side"))  # fmt: skip


def book_state():
    return live_books.get_book(*BOOK) or {}


def test_the_bybit_tape_and_book_survive_drops_gaps_and_a_crossed_book(world, settings):
    pair = world.btc_perp
    Starlisting.objects.update(active=False)  # ticks only: candles have their own end-to-end tests
    pair.collect_trades = pair.collect_orderbook = True
    pair.orderbook_depth, pair.orderbook_every_seconds = 5, 0.3
    pair.save()
    resyncs_before = BOOK_RESYNCS.labels("bybit")._value.get()
    with simulator_running() as simulator:
        settings.KIRBY_BYBIT_WS_URL = f"ws://{simulator.host}:{simulator.port}/v5/public"
        settings.KIRBY_BYBIT_REST_URL = simulator.url
        settings.KIRBY_COLLECTOR_BACKOFF_MAX_SECONDS = 0.5
        batcher = Batcher(flush_seconds=0.2, exchange="bybit", spool=False)
        stop = threading.Event()
        stream = Stream(get_adapter("bybit"), 0, batcher, stop)
        thread = threading.Thread(target=lambda: asyncio.run(stream.run()), daemon=True)
        thread.start()
        try:
            wait_for(lambda: book_state().get("in_sync"), 15, "the book in sync in Redis")
            for drops in (1, 2):
                count = Trade.objects.count()
                wait_for(lambda c=count: Trade.objects.count() > c + 3, 15, "trades stored")
                control(simulator, "/control/drop", {})
                wait_for(lambda d=drops: stream.status.doc["reconnects"] >= d, 15, "the stream reconnected")
            wait_for(lambda: book_state().get("in_sync"), 15, "the book in sync after the reconnects")

            # A skipped u, and the snapshot of the resubscription lost: out of sync until the next one.
            control(simulator, "/control/book-fault", {"kind": "lost-snapshot", "count": 1})
            control(simulator, "/control/book-fault", {"kind": "gap", "count": 1})
            out = wait_for(lambda: (s := book_state()) and not s["in_sync"] and s, 10, "the book out of sync", 0.02)
            broken_at = time.monotonic()
            wait_for(lambda: book_state().get("in_sync"), 10, "the book rebuilt", 0.02)
            rebuilt_after = time.monotonic() - broken_at
            control(simulator, "/control/book-fault", {"kind": "lost-snapshot", "count": 1})
            control(simulator, "/control/book-fault", {"kind": "crossed", "count": 1})
            crossed = wait_for(lambda: (s := book_state()) and not s["in_sync"] and s, 10, "the crossed book", 0.02)
            wait_for(lambda: book_state().get("in_sync"), 10, "the book rebuilt after crossing", 0.02)
            stored = OrderBookSnapshot.objects.filter(trading_pair=pair).count()
            wait_for(lambda: OrderBookSnapshot.objects.filter(trading_pair=pair).count() > stored + 2, 10, "snapshots")
            count = Trade.objects.count()
            wait_for(lambda: Trade.objects.count() > count + 3, 15, "trades stored after the faults")
            current = book_state()
        finally:
            stop.set()
            thread.join(15)
            batcher.close()
            live_books.client().delete(live_books.book_key(*BOOK))
        trades = stored_trades(pair)
        first, last = ms(trades[0][0]), ms(trades[-1][0])
        tape = control(simulator, f"/truth/trades?exchange=bybit&coin={SERIES}&start={first}&end={last + 1}")
        snapshots = list(OrderBookSnapshot.objects.filter(trading_pair=pair).order_by("time"))
        truths = [control(simulator, f"/truth/book?exchange=bybit&coin={SERIES}&time={ms(s.time)}") for s in snapshots]
        truth_now = control(simulator, f"/truth/book?exchange=bybit&coin={SERIES}&time={current['sequence'] * 500}")
        unspent_faults = dict(simulator.state.faults.book_faults)
        assert len(unspent_faults) == 3

    expected = [(datetime.fromtimestamp(t["T"] / 1000, UTC), t["i"], t["p"], t["v"], t["S"].lower()) for t in tape]
    assert stream.status.doc["reconnects"] >= 2
    assert [(t, i, format(p, "f"), format(s, "f"), side) for t, i, p, s, side in trades] == expected
    assert len(trades) > 20
    # Out of sync in Redis with the reason, counted, and rebuilt by resubscribing within seconds.
    assert "sequence gap" in out["reason"] and out["bids"] == [] and "crossed" in crossed["reason"]
    assert rebuilt_after < 5
    assert BOOK_RESYNCS.labels("bybit")._value.get() - resyncs_before >= 2
    assert stream.books.states[SERIES].book.breaks >= 2
    assert set(unspent_faults.values()) == {0}  # every fault was spent: the lost snapshot was asked for again
    assert len(snapshots) >= 5
    for snapshot, truth in zip(snapshots, truths, strict=True):
        assert [[format(p, "f"), format(s, "f")] for p, s in snapshot.bids] == truth["b"][:5]
        assert [[format(p, "f"), format(s, "f")] for p, s in snapshot.asks] == truth["a"][:5]
    assert current["in_sync"] and [current["bids"], current["asks"]] == [truth_now["b"], truth_now["a"]]
