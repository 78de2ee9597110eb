"""Trades stored per pair over the last minute, counted in Redis as they commit.

/api/status and the dashboard show it for every pair that collects trades;
counting at the write (one INCRBY per pair and batch, in the writer's commit
hook) keeps them from ever counting rows of the trades table. Counts go into
five-second buckets that expire on their own; the last minute is the sum of
the newest twelve (so 55 to 60 seconds). Live writes count (the collectors
store with ``publish``): a backfill of old trades is not "stored in the last
minute" of the market.
"""

import logging
import time

from lib.redis import client

log = logging.getLogger(__name__)

BUCKET_SECONDS = 5
WINDOW_SECONDS = 60
_BUCKETS = WINDOW_SECONDS // BUCKET_SECONDS
_PREFIX = "kirby:trades:stored:"


def _key(pair_id, bucket):
    return f"{_PREFIX}{pair_id}:{bucket}"


def count_stored(counts, now=None, redis=None):
    """Add ``{trading pair id: trades stored}`` to the current bucket; never raises (status must not stop writes)."""
    counts = {pair: n for pair, n in counts.items() if n}
    if not counts:
        return
    bucket = int((time.time() if now is None else now) // BUCKET_SECONDS)
    try:
        pipe = (redis or client()).pipeline(transaction=False)
        for pair_id, stored in counts.items():
            pipe.incrby(_key(pair_id, bucket), stored)
            pipe.expire(_key(pair_id, bucket), WINDOW_SECONDS + 2 * BUCKET_SECONDS)
        pipe.execute()
    except Exception as error:
        log.debug("cannot count stored trades: %s", error)


def stored_last_minute(pair_ids, now=None, redis=None):
    """{trading pair id: trades stored in the last minute}, in one Redis call."""
    pair_ids = list(pair_ids)
    if not pair_ids:
        return {}
    bucket = int((time.time() if now is None else now) // BUCKET_SECONDS)
    buckets = range(bucket - _BUCKETS + 1, bucket + 1)
    found = (redis or client()).mget([_key(pair_id, b) for pair_id in pair_ids for b in buckets])
    return {
        pair_id: sum(int(v) for v in found[i * _BUCKETS : (i + 1) * _BUCKETS] if v is not None)
        for i, pair_id in enumerate(pair_ids)
    }
