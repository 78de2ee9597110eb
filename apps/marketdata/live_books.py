"""The current order book of each pair, kept in Redis by the collector and read by the API.

Serving the current book never touches PostgreSQL: the collector writes the
top levels of its local book here (at most a few times a second per pair),
under the pair's path, with whether the book is in sync with the venue. While
a book is being rebuilt after a break, its entry says so (``in_sync`` false
and the reason) and the API answers 503 instead of a book it cannot vouch for.

A collector killed cannot mark anything, so a reader never takes ``in_sync``
alone: ``served`` also says out of sync when the entry has not been
published for ``KIRBY_BOOK_STALE_SECONDS`` (the collector republishes a
book that did not change well within it). REST, /ws and the status all ask it.

Beside each book, a few bytes of its state (in sync, reason, times) go into
one hash, so /api/status and the dashboard read every book's state in one
call without fetching the books themselves.
"""

import time

import orjson
from django.conf import settings

from lib.redis import client

# Levels per side kept in Redis: the deepest ``depth`` the current-book endpoint serves.
LIVE_DEPTH = 1000
_TTL_SECONDS = 3600
_PREFIX = "kirby:book:"
# path -> the book's state without its levels; judged by ``published_at`` (an entry is never expired).
STATES_KEY = "kirby:books:state"


def book_key(exchange, coin, quote, market_type):
    return f"{_PREFIX}{exchange}/{coin}/{quote}/{market_type}".lower()


def put_book(names, *, time_, sequence, bids, asks, in_sync=True, reason=None, redis=None, published_at=None):
    """Publish a pair's current book; ``names``: exchange, coin, quote, market_type; levels: [price, size] text."""
    document = {
        **{k: names[k] for k in ("exchange", "coin", "quote", "market_type")},
        "in_sync": in_sync,
        "reason": reason,
        "time": time_,
        "sequence": sequence,
        "published_at": time.time() if published_at is None else published_at,
        "bids": bids[:LIVE_DEPTH],
        "asks": asks[:LIVE_DEPTH],
    }
    key = book_key(names["exchange"], names["coin"], names["quote"], names["market_type"])
    state = {k: document[k] for k in ("in_sync", "reason", "time", "sequence", "published_at")}
    pipe = (redis or client()).pipeline(transaction=False)
    pipe.set(key, orjson.dumps(document, option=orjson.OPT_UTC_Z), ex=_TTL_SECONDS)
    pipe.hset(STATES_KEY, key.removeprefix(_PREFIX), orjson.dumps(state, option=orjson.OPT_UTC_Z))
    pipe.execute()


def mark_out_of_sync(names, reason, redis=None):
    """Say the pair's book cannot be served until it is rebuilt (keeps nothing of the old book)."""
    put_book(names, time_=None, sequence=None, bids=[], asks=[], in_sync=False, reason=reason, redis=redis)


def book_states(paths, redis=None):
    """{path: {in_sync, reason, time, sequence, published_at}} of the books of ``paths`` (exchange/coin/quote/
    market_type, any case) that were ever published: one Redis call, no levels read."""
    paths = [path.lower() for path in paths]
    if not paths:
        return {}
    found = (redis or client()).hmget(STATES_KEY, paths)
    return {path: orjson.loads(raw) for path, raw in zip(paths, found, strict=True) if raw is not None}


def get_book(exchange, coin, quote, market_type, redis=None):
    """The published document, or None when the collector keeps no book for the pair."""
    raw = (redis or client()).get(book_key(exchange, coin, quote, market_type))
    return None if raw is None else orjson.loads(raw)


def stale_for(document, now=None):
    """Seconds since ``document`` (a book or its state) was published, when longer than KIRBY_BOOK_STALE_SECONDS;
    else None. The one rule for a book whose collector stopped publishing (killed, stalled)."""
    age = (time.time() if now is None else now) - document["published_at"]
    return age if age > settings.KIRBY_BOOK_STALE_SECONDS else None


def served(document, now=None):
    """``document`` (a book or its state) as a reader must take it: as published, or out of sync with the
    reason and without levels when it is stale (``stale_for``)."""
    if not document["in_sync"]:
        return document
    age = stale_for(document, now)
    if age is None:
        return document
    document = {**document, "in_sync": False, "reason": f"no update for {age:.0f} s: its collector is away"}
    for side in ("bids", "asks"):
        if side in document:
            document[side] = []
    return document
