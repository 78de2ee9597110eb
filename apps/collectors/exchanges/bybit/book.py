"""Bybit's book rule: a WebSocket snapshot, then deltas whose update id ``u`` grows by exactly one.

A snapshot is the whole book (``COMPLETE_SNAPSHOTS``): it resets the book
whenever one comes, which covers Bybit's re-sent snapshots and its service
restarts (``u`` back to 1). A delta whose ``u`` is not the previous one + 1
is a gap (EXCHANGES.md 4.2: common practice, and what real captures show):
the book is out of sync until a fresh snapshot, which Bybit sends on a new
subscription (``RESYNC``: the stream unsubscribes and subscribes the book's
topic again).
"""

from apps.collectors.orderbook import SyncedBook

COMPLETE_SNAPSHOTS = True
RESYNC = "resubscribe"


def new_book(name):
    # bridges/stale only matter for a snapshot that deltas must bridge (Binance REST): never here.
    return SyncedBook(bridges=None, stale=None, chains=lambda last, delta: delta.first == last + 1, name=name)
