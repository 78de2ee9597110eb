"""The current order book of each pair, kept in Redis by the collector and read by the API.

Serving the current book never touches PostgreSQL: the collector writes the
top levels of its local book here (at most a few times a second per pair),
under the pair's path, with whether the book is in sync with the venue. While
a book is being rebuilt after a break, its entry says so (``in_sync`` false
and the reason) and the API answers 503 instead of a book it cannot vouch for.

Beside each book, a few bytes of its state (in sync, reason, times) go into
one hash, so /api/status and the dashboard read every book's state in one
call without fetching the books themselves.
"""

import time

import orjson

from lib.redis import client

# Levels per side kept in Redis: the deepest ``depth`` the current-book endpoint serves.
LIVE_DEPTH = 1000
# An entry the collector has not refreshed for this long is not served as current (the collector is gone).
STALE_SECONDS = 30
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
