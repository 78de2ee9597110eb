"""Binance's rules for keeping a local book from a REST snapshot plus diff-depth events.

USD-M futures: drop events with ``u < lastUpdateId``; the first applied has
``U <= lastUpdateId <= u``; every later one has ``pu`` equal to the previous
event's ``u``. Spot (no ``pu``): drop events with ``u <= lastUpdateId``; the
first applied holds ``lastUpdateId + 1``; every later one has ``U`` equal to
the previous ``u + 1``. Anything else is a break: resync from a new snapshot.
Update ids are the venue's, the same on every connection: an event whose
``u`` is not past the book's is one applied already (the old and the new
connection overlap when a connection is replaced) and is dropped.
"""

from apps.collectors.exchanges.binance.protocol import USDM, endpoint
from apps.collectors.orderbook import SyncedBook


def usdm_book(name=""):
    return SyncedBook(
        stale=lambda snapshot_id, d: d.last < snapshot_id,
        bridges=lambda snapshot_id, d: d.first <= snapshot_id <= d.last,
        chains=lambda last, d: d.previous == last,
        repeat=lambda last, d: d.last <= last,
        name=name,
    )


def spot_book(name=""):
    return SyncedBook(
        stale=lambda snapshot_id, d: d.last <= snapshot_id,
        bridges=lambda snapshot_id, d: d.first <= snapshot_id + 1 <= d.last,
        chains=lambda last, d: d.first == last + 1,
        repeat=lambda last, d: d.last <= last,
        name=name,
    )


def book_for(market, name=""):
    return usdm_book(name) if market == USDM else spot_book(name)


# A REST snapshot is a starting point, not the book: deltas bridge and follow it.
COMPLETE_SNAPSHOTS = False
# A new or broken book asks REST for its snapshot (history.book_snapshot); deltas buffer meanwhile.
RESYNC = "rest"


def new_book(name):
    """The local book of series ``name`` (``usdm:BTCUSDT``), under its market's rule."""
    return book_for(endpoint(name), name)
