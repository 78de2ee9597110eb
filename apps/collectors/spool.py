"""Records the database could not take yet, kept in Redis until it can.

While the database is away, a collector's batches go to a Redis stream per
record type (``kirby:spool:<type>``, one entry per batch, records as JSON)
instead of staying in the worker's memory, so a worker killed during an
outage loses at most its last flush period. Any collector replays the
streams, oldest entry first and one replayer per type at a time (a lock),
once the database answers again; an entry is deleted only after its batch
committed, and the write path is idempotent, so a replay cut short by a
crash repeats rows without duplicating them. An entry that fails for any
reason but the database being away (it cannot be decoded, say) would block
its type for good: it is moved to ``kirby:spool:<type>:failed`` and logged.

Redis keeps a stream across restarts only with persistence (RDB or AOF)
configured; with Redis away too, the batcher keeps records in memory.
"""

import logging
import uuid

import psycopg
from django.db import InterfaceError, OperationalError

from apps.marketdata import record_json
from apps.marketdata.records import CandleRecord, FundingRecord, OpenInterestRecord, OrderBookRecord, TradeRecord
from apps.marketdata.tables import CANDLES, FUNDING, OPEN_INTEREST, ORDER_BOOKS, TRADES
from lib.metrics import REPLAYED, SPOOLED
from lib.redis import client

log = logging.getLogger(__name__)

_SPECS = {
    CandleRecord: CANDLES,
    FundingRecord: FUNDING,
    OpenInterestRecord: OPEN_INTEREST,
    TradeRecord: TRADES,
    OrderBookRecord: ORDER_BOOKS,
}
_TYPES = {
    CandleRecord: "candles",
    FundingRecord: "funding",
    OpenInterestRecord: "open_interest",
    TradeRecord: "trades",
    OrderBookRecord: "orderbook",
}
LOCK_SECONDS = 20  # a replayer renews it per entry; a killed one's lock lapses after this
DATABASE_AWAY = (OperationalError, InterfaceError, psycopg.OperationalError, psycopg.InterfaceError)
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"


def key(kind):
    return f"kirby:spool:{_TYPES[kind]}"


def waiting(kind):
    """Batches of ``kind`` in the spool; 0 when Redis cannot say (then nothing can be replayed either)."""
    try:
        return client().xlen(key(kind))
    except Exception as error:
        log.debug("cannot read the spool: %s", error)
        return 0


def keep(kind, records):
    """Append a batch to the spool; False when Redis is away (the caller keeps it in memory)."""
    try:
        client().xadd(key(kind), {"records": record_json.dumps_many(records)})
    except Exception as error:
        log.warning("cannot spool %d %s to Redis (%s); keeping them in memory", len(records), _TYPES[kind], error)
        return False
    SPOOLED.labels(_TYPES[kind]).inc(len(records))
    return True


def replay(kind, write):
    """Store the spooled batches of ``kind`` in order with ``write(records)``; True when the spool is empty.

    Returns False when ``write`` failed (the database is still away; the entry
    stays first in line) or another collector is replaying. Raises nothing.
    """
    redis, name = client(), key(kind)
    lock, token = f"{name}:replaying", uuid.uuid4().hex
    try:
        if not redis.set(lock, token, nx=True, ex=LOCK_SECONDS):
            return False
        try:
            while entries := redis.xrange(name, count=1):
                entry_id, fields = entries[0]
                try:
                    records = record_json.loads_many(_SPECS[kind], fields[b"records"])
                    write(records)
                except Exception as error:
                    if isinstance(error, DATABASE_AWAY):
                        log.warning("replaying spooled %s failed: %s", _TYPES[kind], error)
                        return False
                    # Not the database: this entry would block its type for good. Kept aside for an operator.
                    log.exception("spooled %s entry %s cannot be stored; moved to %s:failed", _TYPES[kind],
                                  entry_id, name)  # fmt: skip
                    redis.xadd(f"{name}:failed", {**fields, b"error": str(error)[:1000]})
                    redis.xdel(name, entry_id)
                    continue
                redis.xdel(name, entry_id)
                redis.expire(lock, LOCK_SECONDS)
                REPLAYED.labels(_TYPES[kind]).inc(len(records))
                log.info("replayed %d spooled %s", len(records), _TYPES[kind])
            return True
        finally:
            redis.eval(_RELEASE, 1, lock, token)
    except Exception as error:
        log.warning("cannot replay the %s spool: %s", _TYPES[kind], error)
        return False
