"""Hyperliquid trades and books from the simulator over real sockets, through a stream, into PostgreSQL and Redis.

The stream runs in a thread of the test (as in a collector worker) with the real batcher; the simulator
drops every connection twice meanwhile. The stored tape must equal the simulator's, without a trade
missing or stored twice across the reconnects, and every stored snapshot its true book at that time.
"""

from datetime import UTC, datetime

import pytest

from apps.marketdata import live_books
from tests.collectors.harness import (
    collect_ticks,
    control,
    drop_twice,
    more_trades,
    ms,
    simulator_running,
    stored_snapshots,
    stored_tape,
    streams_running,
    text_levels,
)

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)
BOOK = ("hyperliquid", "BTC", "USD", "perps")


def test_the_tape_and_books_survive_dropped_connections_exactly(world_committed, settings):
    pair = world_committed.btc_pair
    collect_ticks(pair)
    with simulator_running() as simulator:
        settings.KIRBY_HYPERLIQUID_WS_URL = simulator.ws_url
        settings.KIRBY_HYPERLIQUID_REST_URL = f"{simulator.url}/info"
        settings.KIRBY_COLLECTOR_BACKOFF_MAX_SECONDS = 0.5
        with streams_running("hyperliquid", books=[BOOK]) as (stream,):
            drop_twice(simulator, stream)
            more_trades(what="trades stored after the last reconnect")
            current = live_books.get_book(*BOOK)
        trades = stored_tape(trading_pair=pair)
        first, last = ms(trades[0][0]), ms(trades[-1][0])
        tape = control(simulator, f"/truth/trades?coin=BTC&start={first}&end={last + 1}")
        snapshots = stored_snapshots(pair)
        truths = [control(simulator, f"/truth/book?coin=BTC&time={ms(s.time)}") for s in snapshots]

    def wire(level):
        return [level["px"], level["sz"]]

    expected = [(datetime.fromtimestamp(t["time"] / 1000, UTC), str(t["tid"]), t["px"], t["sz"],
                 "buy" if t["side"] == "B" else "sell") for t in tape]  # fmt: skip
    assert stream.status.doc["reconnects"] >= 2
    assert trades == expected
    assert len(snapshots) >= 5
    for snapshot, truth in zip(snapshots, truths, strict=True):
        assert text_levels(snapshot.bids) == [wire(x) for x in truth["levels"][0][:5]]
        assert text_levels(snapshot.asks) == [wire(x) for x in truth["levels"][1][:5]]
    assert current["in_sync"] and len(current["bids"]) == 20
