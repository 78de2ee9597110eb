"""OKX's ``books`` rule: a WebSocket snapshot is the whole book; each update chains on ``seqId``.

The snapshot puts the book in sync at once (its ``prevSeqId`` is -1). Every
update's ``prevSeqId`` must be the ``seqId`` of the message before it; an
update that changed nothing repeats it (``prevSeqId == seqId``), which the
same rule accepts. Anything else (a lost update, a ``seqId`` reset after
OKX maintenance) or a crossed book is a break: the stream unsubscribes and
subscribes the channel again, and OKX answers with a fresh snapshot.
"""

from apps.collectors.orderbook import SyncedBook

COMPLETE_SNAPSHOTS = True
RESYNC = "resubscribe"


def chains(last, delta):
    return delta.previous == last


def new_book(name):
    return SyncedBook(bridges=None, stale=None, chains=chains, name=name)
