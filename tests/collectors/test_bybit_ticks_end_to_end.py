"""Bybit trades and books from the simulator over real sockets, through a stream, into PostgreSQL and Redis.

The stream runs in a thread of the test (as in a collector worker) with the real batcher. The simulator
drops every connection twice (Bybit sends no trades from before a subscription: the stream reads the
recent ones over REST after each connect), then breaks the book: an update id skipped while the next
snapshot is lost, and a delta that crosses the book. The stored tape must equal the simulator's, without
a trade missing or stored twice; the book is marked out of sync in Redis, resubscribed until a snapshot
comes, and every stored snapshot is the true book at its time.
"""

import time
from datetime import UTC, datetime

import pytest

from apps.marketdata import live_books
from lib.metrics import BOOK_RESYNCS
from tests.collectors.harness import (
    BinanceWorld,
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
from tests.waiting import wait_for

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)
BOOK = ("bybit", "BTC", "USDT", "perps")
SERIES = "linear:BTCUSDT"


@pytest.fixture
def world(transactional_db, django_db_serialized_rollback):
    return BinanceWorld("bybit", "Bybit")


def book_state():
    return live_books.get_book(*BOOK) or {}


def test_the_bybit_tape_and_book_survive_drops_gaps_and_a_crossed_book(world, settings):
    pair = world.btc_perp
    collect_ticks(pair)
    resyncs_before = BOOK_RESYNCS.labels("bybit")._value.get()
    with simulator_running() as simulator:
        settings.KIRBY_BYBIT_WS_URL = f"ws://{simulator.host}:{simulator.port}/v5/public"
        settings.KIRBY_BYBIT_REST_URL = simulator.url
        settings.KIRBY_COLLECTOR_BACKOFF_MAX_SECONDS = 0.5
        with streams_running("bybit", books=[BOOK]) as (stream,):
            wait_for(lambda: book_state().get("in_sync"), 15, "the book in sync in Redis")
            drop_twice(simulator, stream, trades=3)
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
            stored = len(stored_snapshots(pair))
            wait_for(lambda: len(stored_snapshots(pair)) > stored + 2, 10, "snapshots")
            more_trades(3, "trades stored after the faults")
            current = book_state()
        trades = stored_tape(trading_pair=pair)
        first, last = ms(trades[0][0]), ms(trades[-1][0])
        tape = control(simulator, f"/truth/trades?exchange=bybit&coin={SERIES}&start={first}&end={last + 1}")
        snapshots = stored_snapshots(pair)
        truths = [control(simulator, f"/truth/book?exchange=bybit&coin={SERIES}&time={ms(s.time)}") for s in snapshots]
        truth_now = control(simulator, f"/truth/book?exchange=bybit&coin={SERIES}&time={current['sequence'] * 500}")
        unspent_faults = dict(simulator.state.faults.book_faults)
        assert len(unspent_faults) == 3

    expected = [(datetime.fromtimestamp(t["T"] / 1000, UTC), t["i"], t["p"], t["v"], t["S"].lower()) for t in tape]
    assert stream.status.doc["reconnects"] >= 2
    assert trades == expected
    assert len(trades) > 20
    # Out of sync in Redis with the reason, counted, and rebuilt by resubscribing within seconds.
    assert "sequence gap" in out["reason"] and out["bids"] == [] and "crossed" in crossed["reason"]
    assert rebuilt_after < 5
    assert BOOK_RESYNCS.labels("bybit")._value.get() - resyncs_before >= 2
    assert set(unspent_faults.values()) == {0}  # every fault was spent: the lost snapshot was asked for again
    assert len(snapshots) >= 5
    for snapshot, truth in zip(snapshots, truths, strict=True):
        assert text_levels(snapshot.bids) == truth["b"][:5]
        assert text_levels(snapshot.asks) == truth["a"][:5]
    assert current["in_sync"] and [current["bids"], current["asks"]] == [truth_now["b"], truth_now["a"]]
