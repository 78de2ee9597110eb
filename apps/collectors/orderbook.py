"""A local order book per pair, kept in sync with the venue by the venue's own sequence rule.

The book itself is venue-neutral: price -> size per side, applied from a
snapshot and deltas. Whether a delta may be applied is the venue's rule (its
adapter gives ``bridges`` and ``chains``, see exchanges/binance/book.py); any
break (a gap in the sequence, a crossed book, a snapshot older than the book)
is counted and the book waits for a fresh snapshot, reported as not in sync
until then, so it is never served or stored while it may be wrong.
"""

import logging
from dataclasses import dataclass, field

from sortedcontainers import SortedDict

log = logging.getLogger(__name__)
MAX_PENDING = 10_000  # deltas kept while a snapshot is being fetched


class OrderBook:
    """Levels of one book: Decimal price -> Decimal size, kept sorted; size 0 removes a level.

    Sorted, so the best levels (the crossed-book check after every event, the top N) cost a lookup, not
    a scan of a thousand levels.
    """

    def __init__(self):
        self.bids, self.asks = SortedDict(), SortedDict()
        # Only a new price can cross a book that was not crossed (a size change or a removal cannot):
        # False once ``crossed`` found it uncrossed, until a level is added.
        self.may_cross = True

    def replace(self, bids, asks):
        self.bids = SortedDict({price: size for price, size in bids if size})
        self.asks = SortedDict({price: size for price, size in asks if size})
        self.may_cross = True

    def update(self, bids, asks):
        """Apply changed levels; returns how many level updates were applied."""
        for side, changes in ((self.bids, bids), (self.asks, asks)):
            for price, size in changes:
                if price in side:
                    if size:
                        # A level already there only changes size: the plain dict store leaves SortedDict's
                        # sorted key list as it is (most updates; SortedDict's own store is Python code).
                        _store(side, price, size)
                    else:
                        del side[price]
                elif size:
                    side[price] = size
                    self.may_cross = True
        return len(bids) + len(asks)

    def top(self, depth):
        """(bids, asks) of at most ``depth`` levels each, best first, as [price, size] text pairs."""
        bids = self.bids.items()[: -depth - 1 : -1] if depth < len(self.bids) else reversed(self.bids.items())
        asks = self.asks.items()[:depth]
        return [[_text(p), _text(s)] for p, s in bids], [[_text(p), _text(s)] for p, s in asks]

    @property
    def crossed(self):
        if not self.may_cross:
            return False
        crossed = bool(self.bids and self.asks) and self.bids.peekitem(-1)[0] >= self.asks.peekitem(0)[0]
        self.may_cross = crossed
        return crossed


_store = dict.__setitem__


def _text(number):
    return format(number, "f")


@dataclass
class SyncedBook:
    """A book following a venue's sequence: snapshot first, then deltas that chain; any break resyncs.

    ``bridges(snapshot_id, delta)``: whether ``delta`` is the first to apply on a snapshot;
    ``stale(snapshot_id, delta)``: whether ``delta`` is already contained in the snapshot (dropped);
    ``chains(last, delta)``: whether ``delta`` follows the delta whose last id was ``last``;
    optional ``repeat(last, delta)``: whether ``delta`` was applied already (the same event again from an
    overlapping connection): dropped, not a break.
    """

    bridges: object
    stale: object
    chains: object
    name: str = ""
    book: OrderBook = field(default_factory=OrderBook)
    in_sync: bool = False
    sequence: int | None = None  # last id applied
    time_ms: int | None = None
    snapshot_id: int | None = None  # set while waiting for the delta that bridges the snapshot
    breaks: int = 0
    reason: str = "waiting for the first snapshot"
    stale_snapshots: int = 0
    pending: list = field(default_factory=list)  # deltas received while waiting for a snapshot
    repeat: object = None

    def snapshot(self, snapshot, complete=False):
        """Start (again) from a snapshot; buffered deltas are replayed on it. Returns level updates applied.

        ``complete``: the snapshot is the venue's whole state (Hyperliquid): in sync at once, no delta
        needed; one older than the book is dropped and counted.
        """
        if complete and self.time_ms is not None and snapshot.time_ms is not None and snapshot.time_ms < self.time_ms:
            self.stale_snapshots += 1
            log.warning("order book %s: dropped a snapshot older than the book (%s < %s)", self.name,
                        snapshot.time_ms, self.time_ms)  # fmt: skip
            return 0
        self.book.replace(snapshot.bids, snapshot.asks)
        self.sequence, self.time_ms = snapshot.sequence, snapshot.time_ms
        if complete:
            self.snapshot_id, self.pending = None, []  # the whole book: deltas held while waiting are older
            if self.book.crossed:
                self._break("crossed snapshot")
                return 0
            self.in_sync, self.reason = True, ""
            return len(snapshot.bids) + len(snapshot.asks)
        self.in_sync, self.snapshot_id = False, snapshot.sequence
        self.reason = "waiting for the delta that follows the snapshot"
        pending, self.pending = self.pending, []
        applied = 0
        for index, delta in enumerate(pending):
            applied += self.delta(delta)
            if self.needs_snapshot:  # broke while replaying: what is left waits for the next snapshot
                self.pending = pending[index + 1 :]
                break
        return applied

    def delta(self, delta):
        """Apply one delta if the sequence allows; returns the level updates applied (0 when dropped or broken)."""
        if self.needs_snapshot:
            if len(self.pending) >= MAX_PENDING:
                del self.pending[: MAX_PENDING // 2]  # the snapshot, when it comes, will say if these mattered
            self.pending.append(delta)
            return 0
        if self.snapshot_id is not None:  # the first delta after a snapshot must bridge it
            if self.stale(self.snapshot_id, delta):
                return 0
            if not self.bridges(self.snapshot_id, delta):
                self._break(f"snapshot {self.snapshot_id} is older than the first delta {delta.first}..{delta.last}")
                return 0
            self.snapshot_id = None
        elif self.repeat is not None and self.repeat(self.sequence, delta):
            return 0
        elif not self.chains(self.sequence, delta):
            self._break(f"sequence gap: the delta {delta.first}..{delta.last} does not follow {self.sequence}")
            return 0
        applied = self.book.update(delta.bids, delta.asks)
        self.sequence, self.time_ms = delta.last, delta.time_ms
        if self.book.crossed:
            self._break(f"crossed book after update {delta.last}")
            return applied
        if not self.in_sync:
            self.in_sync, self.reason = True, ""
        return applied

    def _break(self, reason):
        self.breaks += 1
        self.in_sync, self.reason, self.snapshot_id = False, f"{reason}; rebuilding from a fresh snapshot", None
        self.book = OrderBook()
        log.warning("order book %s out of sync (break %d): %s", self.name, self.breaks, reason)

    @property
    def needs_snapshot(self):
        """True while the book waits for a snapshot (at the start and after any break)."""
        return not self.in_sync and self.snapshot_id is None
