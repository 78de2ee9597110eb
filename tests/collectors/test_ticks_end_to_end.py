"""Hyperliquid trades and books from the simulator over real sockets, through a stream, into PostgreSQL and Redis.

The stream runs in a thread of the test (as in a collector worker) with the real batcher; the simulator
drops every connection twice meanwhile. The stored tape must equal the simulator's, without a trade
missing or stored twice across the reconnects, and every stored snapshot its true book at that time.
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
from apps.markets.models import Starlisting
from tests.collectors.harness import control, simulator_running
from tests.waiting import wait_for

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)
BOOK = ("hyperliquid", "BTC", "USD", "perps")


def ms(moment):
    return int(moment.timestamp() * 1000)


def stored_trades(pair):
    return list(Trade.objects.filter(trading_pair=pair).order_by("time", "trade_id").values_list(
        "time", "trade_id", "price", "size", "side"))  # fmt: skip


def test_the_tape_and_books_survive_dropped_connections_exactly(world_committed, settings):
    pair = world_committed.btc_pair
    Starlisting.objects.update(active=False)  # ticks only: candles have their own end-to-end tests
    pair.collect_trades = pair.collect_orderbook = True
    pair.orderbook_depth, pair.orderbook_every_seconds = 5, 0.3
    pair.save()
    with simulator_running() as simulator:
        settings.KIRBY_HYPERLIQUID_WS_URL = simulator.ws_url
        settings.KIRBY_HYPERLIQUID_REST_URL = f"{simulator.url}/info"
        settings.KIRBY_COLLECTOR_BACKOFF_MAX_SECONDS = 0.5
        batcher = Batcher(flush_seconds=0.2, exchange="hyperliquid", spool=False)
        stop = threading.Event()
        stream = Stream(get_adapter("hyperliquid"), 0, batcher, stop)
        thread = threading.Thread(target=lambda: asyncio.run(stream.run()), daemon=True)
        thread.start()
        try:
            for drops in (1, 2):
                count = Trade.objects.count()
                wait_for(lambda c=count: Trade.objects.count() > c + 5, 15, "trades stored")
                control(simulator, "/control/drop", {})
                wait_for(lambda d=drops: stream.status.doc["reconnects"] >= d, 15, "the stream reconnected")
            count = Trade.objects.count()
            wait_for(lambda: Trade.objects.count() > count + 5, 15, "trades stored after the last reconnect")
            current = live_books.get_book(*BOOK)
        finally:
            stop.set()
            thread.join(15)
            batcher.close()
            live_books.client().delete(live_books.book_key(*BOOK))
        trades = stored_trades(pair)
        first, last = ms(trades[0][0]), ms(trades[-1][0])
        tape = control(simulator, f"/truth/trades?coin=BTC&start={first}&end={last + 1}")
        snapshots = list(OrderBookSnapshot.objects.filter(trading_pair=pair).order_by("time"))
        truths = [control(simulator, f"/truth/book?coin=BTC&time={ms(s.time)}") for s in snapshots]

    def wire(level):
        return [level["px"], level["sz"]]

    expected = [(datetime.fromtimestamp(t["time"] / 1000, UTC), str(t["tid"]), t["px"], t["sz"],
                 "buy" if t["side"] == "B" else "sell") for t in tape]  # fmt: skip
    assert stream.status.doc["reconnects"] >= 2
    assert [(t, i, format(p, "f"), format(s, "f"), side) for t, i, p, s, side in trades] == expected
    assert len(snapshots) >= 5
    for snapshot, truth in zip(snapshots, truths, strict=True):
        assert [[format(p, "f"), format(s, "f")] for p, s in snapshot.bids] == [wire(x) for x in truth["levels"][0][:5]]
        assert [[format(p, "f"), format(s, "f")] for p, s in snapshot.asks] == [wire(x) for x in truth["levels"][1][:5]]
    assert current["in_sync"] and len(current["bids"]) == 20
