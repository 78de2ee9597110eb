"""Hyperliquid's book rule: every ``l2Book`` push is the whole top of the book (no deltas, no sequence).

Each snapshot replaces the book; one older than the book is dropped and
counted; a crossed one puts the book out of sync until the next.
"""

from apps.collectors.orderbook import SyncedBook

COMPLETE_SNAPSHOTS = True
RESYNC = "wait"  # the next push is a whole book anyway


def new_book(name):
    return SyncedBook(bridges=None, stale=None, chains=None, name=name)
