"""Coinbase trades and level2 books from the simulator over real sockets, through a stream, into PostgreSQL and Redis.

The stream runs in a thread of the test with the real batcher. The simulator drops every connection
twice, loses messages (a sequence_num gap) and sends a crossed book meanwhile. The stored tape must equal
the simulator's (taker sides), without a trade missing or stored twice across the reconnects (each new
connection's market_trades snapshot replays recent trades); every stored book snapshot must equal the
true book at its time; after the gap and after the crossed book the book is out of sync, then rebuilt
from a fresh snapshot within seconds.
"""

from datetime import UTC, datetime

import pytest

from apps.marketdata import live_books
from lib.metrics import BOOK_RESYNCS
from tests.collectors.harness import (
    CoinbaseWorld,
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
BOOK = ("coinbase", "BTC", "USD", "spot")


def resyncs():
    return BOOK_RESYNCS.labels("coinbase")._value.get()


def book_state(stream):
    state = stream.books.states.get("BTC-USD")
    return (state.book.breaks, state.book.in_sync, state.book.reason) if state else (0, False, "")


def test_coinbase_tape_and_books_survive_reconnects_gaps_and_a_crossed_book(transactional_db, settings):
    pair = CoinbaseWorld().btc_usd
    collect_ticks(pair)
    # A virtual minute a second, a few trades each: a reconnect misses fewer than the snapshot replays.
    with simulator_running(coins=("BTC",)) as simulator:
        settings.KIRBY_COINBASE_WS_URL = simulator.coinbase_ws_url
        settings.KIRBY_COINBASE_REST_URL = simulator.url
        settings.KIRBY_COLLECTOR_BACKOFF_MAX_SECONDS = 0.5
        with streams_running("coinbase", books=[BOOK]) as (stream,):
            drop_twice(simulator, stream)
            # Each new connection starts the book anew, from that connection's snapshot (what it missed is unknown).
            wait_for(lambda: book_state(stream)[1], 10, "the book rebuilt after them")

            before = resyncs()
            control(simulator, "/control/coinbase/sequence-gap", {"count": 2})
            # The gap breaks the book (counted), then the stream reconnects and the new connection rebuilds it.
            wait_for(lambda: resyncs() > before, 10, "the gap put the book out of sync")
            wait_for(lambda: book_state(stream)[1], 5, "the book rebuilt from a fresh snapshot after the gap")
            assert stream.status.doc["reconnects"] >= 3  # the gap made the stream reconnect and resubscribe

            breaks, reconnects = book_state(stream)[0], stream.status.doc["reconnects"]
            control(simulator, "/control/book-fault", {"venue": "coinbase", "kind": "crossed", "count": 1})
            wait_for(lambda: book_state(stream)[0] > breaks, 10, "the crossed book put it out of sync")
            assert "crossed" in book_state(stream)[2]
            wait_for(lambda: book_state(stream)[1], 5, "the book rebuilt by resubscribing its level2")
            assert stream.status.doc["reconnects"] == reconnects  # resubscribed on the same connection

            more_trades(what="trades stored after the faults")
            current = live_books.get_book(*BOOK)
        trades = stored_tape(trading_pair=pair)
        first, last = ms(trades[0][0]), ms(trades[-1][0])
        tape = control(simulator, f"/truth/trades?exchange=coinbase&coin=BTC-USD&start={first}&end={last + 1}")
        snapshots = stored_snapshots(pair)
        truths = [
            control(simulator, f"/truth/book?exchange=coinbase&coin=BTC-USD&time={ms(s.time)}") for s in snapshots
        ]

    expected = [(datetime.fromtimestamp(t["time"] / 1000, UTC), t["trade_id"], t["price"], t["size"], t["side"])
                for t in tape]  # fmt: skip
    assert {t["side"] for t in tape} == {"buy", "sell"}
    assert trades == expected
    assert len(snapshots) >= 5
    for snapshot, truth in zip(snapshots, truths, strict=True):
        assert ms(snapshot.time) == truth["time"]
        assert text_levels(snapshot.bids) == truth["bids"][:5]
        assert text_levels(snapshot.asks) == truth["asks"][:5]
    assert current["in_sync"] and len(current["bids"]) == 20
