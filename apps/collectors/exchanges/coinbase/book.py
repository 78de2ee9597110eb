"""Coinbase's book rule: ``level2`` sends the whole book as a snapshot, then updates numbered by ``sequence_num``.

``sequence_num`` counts every message of the connection across channels,
so a book's deltas are not consecutive numbers; a delta applies when the
connection lost nothing before it (its ``previous``, the number of the
message before it on the connection, is one less than its own) and it is
newer than the book. A gap breaks the book (the parser sends every book of
the connection such a delta, then the stream reconnects); a crossed book
breaks it too. A broken book is rebuilt from a fresh snapshot: the stream
unsubscribes and resubscribes its ``level2`` (``RESYNC``), and every
snapshot is the whole book.
"""

from apps.collectors.orderbook import SyncedBook

COMPLETE_SNAPSHOTS = True
RESYNC = "resubscribe"


def chains(last, delta):
    return delta.previous is not None and delta.previous == delta.first - 1 and (last is None or delta.first > last)


def new_book(name):
    return SyncedBook(
        stale=lambda snapshot_id, d: d.last <= snapshot_id,
        bridges=lambda snapshot_id, d: d.first > snapshot_id,
        chains=chains,
        name=name,
    )
