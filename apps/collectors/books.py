"""The stream's order books: one local book per series, published to Redis and stored on a cadence.

Fed with the parser's BookSnapshot and BookDelta events, each book follows
its venue's rule (the adapter's ``book`` module). A book in sync is
published to Redis at most ``PUBLISH_SECONDS`` apart (the newest state wins,
nothing queues up) and stored as a top-``depth`` snapshot every
``orderbook_every_seconds`` of its pair. A book out of sync is published as
such at once, with the reason, so the API stops serving it, and is neither
published nor stored again until it is rebuilt. Books that need a
snapshot to (re)start are listed in ``wanted``; the stream gets them as the
venue's ``book.RESYNC`` says (``rest``: a REST snapshot; ``resubscribe``:
the channel again, which starts with a snapshot; ``wait``: every push is one).

A book in sync that did not change is published again every
``KIRBY_BOOK_STALE_SECONDS`` / ``REPUBLISHES_PER_STALE``, so readers can
take a book not published for that long for a collector gone
(``live_books.served``). When its connection ends, the stream calls
``disconnected``: every book is marked out of sync with the reason and
forgotten, and the next connection rebuilds each from a fresh snapshot.
"""

import logging
import time

from django.conf import settings

from apps.marketdata import live_books
from apps.marketdata.records import OrderBookRecord
from lib.metrics import BOOK_RESYNCS
from lib.timeutil import from_ms

log = logging.getLogger(__name__)

# At most this often per book to Redis: a few times a second is all a reader of the current book needs.
PUBLISH_SECONDS = 0.2
# An unchanged book is published this many times per KIRBY_BOOK_STALE_SECONDS: a late tick or two under load
# does not make it look stale.
REPUBLISHES_PER_STALE = 4


class _State:
    def __init__(self, book):
        self.book = book
        self.published_at = 0.0  # time.monotonic() of the last publish
        self.stored_at = {}  # trading pair id -> time.monotonic() of its last stored snapshot
        self.dirty = False
        self.reported_out = False
        self.breaks_seen = 0
        # time.monotonic() at which the next publish or stored snapshot falls due, and the routes it was
        # worked out for: until then an event only marks the book dirty (most events, on a busy book).
        self.due = 0.0
        self.due_routes = None


class BookKeeper:
    def __init__(self, adapter, store, redis=None):
        self.adapter = adapter
        self.store = store  # records -> the batcher
        self.redis = redis
        self.states = {}  # series name -> _State
        self.routes = {}  # series name -> [BookRoute]
        self.wanted = set()  # series whose book waits for a snapshot (the stream asks as book.RESYNC says)
        self.updates_applied = 0
        self.republish_seconds = settings.KIRBY_BOOK_STALE_SECONDS / REPUBLISHES_PER_STALE

    def feed(self, event, routes):
        rules = self.adapter.book
        if rules is None or not routes:
            return
        self.routes[event.coin] = routes
        state = self.states.get(event.coin)
        if state is None:
            state = self.states[event.coin] = _State(rules.new_book(event.coin))
        book = state.book
        if hasattr(event, "first"):
            self.updates_applied += book.delta(event)
        else:
            self.updates_applied += book.snapshot(event, complete=rules.COMPLETE_SNAPSHOTS)
            self.wanted.discard(event.coin)
        if book.breaks > state.breaks_seen:
            BOOK_RESYNCS.labels(self.adapter.name).inc(book.breaks - state.breaks_seen)
            state.breaks_seen = book.breaks
        if book.in_sync:
            state.reported_out = False
            state.dirty = True
            now = time.monotonic()
            if now >= state.due or routes is not state.due_routes:
                self._maybe_publish(event.coin, state, now)
        else:
            if resync_of(rules) != "wait" and book.needs_snapshot:
                self.wanted.add(event.coin)
            if not state.reported_out and book.breaks:
                state.reported_out = True
                for route in routes:
                    live_books.mark_out_of_sync(_names(route), book.reason, redis=self.redis)

    def tick(self):
        now = time.monotonic()
        republish_before = now - self.republish_seconds
        for coin, state in self.states.items():
            if not state.book.in_sync:
                continue
            if state.dirty:
                self._maybe_publish(coin, state, now)
            elif state.published_at <= republish_before:
                self._publish(coin, state, now)  # unchanged: published, not stored again

    def disconnected(self, reason):
        """The connection the books came from ended: each is published as out of sync with ``reason`` and
        forgotten, so the next connection starts every book anew (its first snapshot, as the venue's rule says)."""
        routes = [route for coin in self.states for route in self.routes.get(coin, ())]
        self.states.clear()  # first: forgotten even when Redis cannot be told
        self.routes.clear()
        self.wanted.clear()
        for route in routes:
            live_books.mark_out_of_sync(_names(route), reason, redis=self.redis)

    def _maybe_publish(self, coin, state, now):
        book, routes = state.book, self.routes.get(coin, ())
        if now - state.published_at >= PUBLISH_SECONDS:
            self._publish(coin, state, now)
        state.due, state.due_routes = state.published_at + PUBLISH_SECONDS, routes
        if book.time_ms is None:
            return
        records = []
        for route in routes:
            if now - state.stored_at.get(route.trading_pair_id, -1e9) >= route.every_seconds:
                bids, asks = book.book.top(route.depth)
                records.append(OrderBookRecord(route.trading_pair_id, from_ms(book.time_ms), book.sequence, bids, asks))
                state.stored_at[route.trading_pair_id] = now
            state.due = min(state.due, state.stored_at[route.trading_pair_id] + route.every_seconds)
        if records:
            self.store(records)

    def _publish(self, coin, state, now):
        book = state.book
        bids, asks = book.book.top(live_books.LIVE_DEPTH)
        moment = None if book.time_ms is None else from_ms(book.time_ms)
        for route in self.routes.get(coin, ()):
            live_books.put_book(_names(route), time_=moment, sequence=book.sequence, bids=bids, asks=asks,
                                redis=self.redis)  # fmt: skip
        state.published_at, state.dirty = now, False


def resync_of(rules):
    """How a venue's broken book gets its next snapshot (``book.RESYNC``; REST unless its pushes are whole books)."""
    return getattr(rules, "RESYNC", "wait" if rules.COMPLETE_SNAPSHOTS else "rest")


def _names(route):
    return dict(zip(("exchange", "coin", "quote", "market_type"), route.names, strict=True))
