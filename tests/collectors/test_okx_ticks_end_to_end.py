"""OKX trades and books from the simulator over real sockets, through a stream, into PostgreSQL and Redis.

The stream runs in a thread of the test (as in a collector worker) with the real batcher. The simulator
drops every connection twice, loses a ``books`` update (a skipped ``seqId``), sends a crossed book and
loses the snapshot of a new subscription. OKX does not replay trades on subscribe: the stream reads the
recent ones over REST after its first connect and, after each reconnect, the window it missed
(``history-trades``): the stored tape must equal the simulator's, nothing missing or stored twice; every
stored book snapshot must equal the true book at its time, sizes of the swap in coins (contracts x ctVal);
each break shows in Redis, is counted, and heals in seconds.
"""

import threading
import time
from decimal import Decimal

import pytest

from apps.marketdata import live_books
from lib.metrics import BOOK_RESYNCS
from tests.collectors.harness import (
    OKX_SWAP,
    control,
    drop_twice,
    more_trades,
    ms,
    okx_coins,
    okx_pairs,
    okx_tape,
    simulator_running,
    stored_snapshots,
    streams_running,
)
from tests.waiting import wait_for

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)
BOOK = ("okx", "BTC", "USDT", "perps")
DEPTH = 5


@pytest.fixture
def pairs(transactional_db, django_db_serialized_rollback):
    """OKX's BTC/USDT swap (trades and its book) and spot (trades)."""
    return okx_pairs(book_depth=DEPTH)


class BookWatch:
    """Polls the pair's book in Redis every few ms: every (in_sync, reason) change with its wall time."""

    def __init__(self):
        self.seen, self.stop = [], threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        last = None
        while not self.stop.is_set():
            book = live_books.get_book(*BOOK)
            state = None if book is None else (book["in_sync"], book["reason"])
            if state != last:
                self.seen.append((time.monotonic(), *(state or (None, None))))
                last = state
            time.sleep(0.002)

    def healed_after(self, reason_part, since):
        """Seconds from the book marked out of sync for ``reason_part`` to in sync again, or None."""
        marked = next(
            (t for t, ok, why in self.seen if t >= since and ok is False and reason_part in (why or "")), None
        )
        healed = None if marked is None else next((t for t, ok, _ in self.seen if t > marked and ok), None)
        return None if healed is None else healed - marked

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(5)


def recent_trade_reads(simulator):
    return sum(1 for r in control(simulator, "/control/okx/requests") if r["path"] == "/api/v5/market/trades")


def read_back_since(simulator, moment):
    """The instruments whose trades were read back (history-trades) up to a first trade after virtual ``moment``:
    a read back's first page is asked by time, ``after`` the window's end."""
    return {r["query"]["instId"] for r in control(simulator, "/control/okx/requests")
            if r["path"] == "/api/v5/market/history-trades" and r["query"].get("type") == "2"
            and int(r["query"]["after"]) > moment}  # fmt: skip


def resyncs():
    return BOOK_RESYNCS.labels("okx")._value.get()


def test_okx_tape_and_book_survive_drops_gaps_crossed_books_and_a_lost_snapshot(pairs, settings):
    with simulator_running() as simulator:
        settings.KIRBY_OKX_WS_URL = f"ws://{simulator.host}:{simulator.port}/ws/v5/public"
        settings.KIRBY_OKX_REST_URL = simulator.url
        settings.KIRBY_COLLECTOR_BACKOFF_MAX_SECONDS = 0.5
        healed, resyncs_before = {}, resyncs()
        with BookWatch() as watch, streams_running("okx", books=[BOOK]) as (stream,):
            wait_for(lambda: (live_books.get_book(*BOOK) or {}).get("in_sync"), 15, "the swap's book in sync")
            # Read a second after the first connect (a reconnect reads its windows instead): the tape's start.
            wait_for(lambda: recent_trade_reads(simulator) >= 2, 15, "the recent trades read after connecting")
            drop_twice(simulator, stream)
            for fault, reason, then_drop in (("gap", "sequence gap", False), ("crossed", "crossed", False),
                                             ("lost-snapshot", "", True)):  # fmt: skip
                since = time.monotonic()
                control(simulator, "/control/book-fault", {"venue": "okx", "kind": fault, "count": 1})
                if then_drop:  # the next subscription's snapshot is lost: updates come with nothing to apply to
                    dropped_at = control(simulator, "/control/stats")["virtual_now_ms"]
                    control(simulator, "/control/drop", {})
                    wait_for(lambda: stream.status.doc["reconnects"] >= 3, 15, "the stream reconnected")
                wait_for(lambda r=reason, s=since: watch.healed_after(r, s), 10, f"the book rebuilt after {fault}")
                healed[fault] = watch.healed_after(reason, since)
            # The last connection read back what both instruments pushed while it reconnected, before the tape
            # is taken.
            wait_for(lambda: read_back_since(simulator, dropped_at) == set(pairs) and not stream._trade_reads, 15,
                     "the missed trades read back after the last reconnect")  # fmt: skip
            more_trades(what="trades stored after the faults")
            current = live_books.get_book(*BOOK)
        tapes = {inst_id: okx_tape(simulator, inst_id, pair) for inst_id, pair in pairs.items()}
        snapshots = stored_snapshots(pairs[OKX_SWAP])
        truths = [control(simulator, f"/truth/book?exchange=okx&coin={OKX_SWAP}&time={ms(s.time)}") for s in snapshots]

    for inst_id, (stored, expected) in tapes.items():
        assert len(stored) >= 20, inst_id
        assert stored == expected, inst_id  # every trade of the span, once, sizes in the coin
    assert stream.status.doc["reconnects"] >= 3
    # Each break was published in Redis at once, rebuilt from a fresh snapshot within seconds, and counted.
    assert set(healed) == {"gap", "crossed", "lost-snapshot"} and max(healed.values()) < 3, healed
    assert resyncs() - resyncs_before >= 2  # the gap and the crossed book (a new connection starts a new book)
    assert len(snapshots) >= 10
    for snapshot, truth in zip(snapshots, truths, strict=True):
        for stored_side, true_side in ((snapshot.bids, truth["bids"]), (snapshot.asks, truth["asks"])):
            assert [(Decimal(p), Decimal(s)) for p, s in stored_side] == [
                (Decimal(level[0]), okx_coins(OKX_SWAP, level[1])) for level in true_side[:DEPTH]
            ]
    assert current["in_sync"] and len(current["bids"]) == 20 and current["sequence"] > 0
