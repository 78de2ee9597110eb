"""A small time series in Redis for the dashboard's plots and the database growth.

Every ``KIRBY_STATUS_SAMPLE_SECONDS`` one sample is stored: Unix time (UTC
seconds), the cluster-wide count of rows collected so far (``kirby:ingested``,
added to by every collector batch), open /ws connections of all web
processes, and the database size in bytes. Samples live in a sorted set
scored by time and are kept ``KEEP_SECONDS`` (a day and an hour), enough for
"growth over the last day". Taken by a beat task and, when that is late, by
whoever builds the status document (a lock makes it one sample per period).
Each sample also computes the completeness /health serves (apps.operations.health).
"""

import json
import logging
import time

from django.conf import settings
from django.db import connection

from apps.operations.health import store_completeness
from apps.streaming.presence import connections_total
from lib.metrics import DATABASE_SIZE, INGESTED_KEY
from lib.redis import client

log = logging.getLogger(__name__)

SAMPLES_KEY = "kirby:samples"
KEEP_SECONDS = 25 * 3600


def database_size():
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_database_size(current_database())")
        size = cursor.fetchone()[0]
    DATABASE_SIZE.set(size)
    return size


def take_sample(now=None, *, force=False):
    """Store one sample unless one was taken less than a period ago; the sample, or None."""
    now = time.time() if now is None else now
    period = settings.KIRBY_STATUS_SAMPLE_SECONDS
    redis = client()
    if not force and not redis.set("kirby:samples:lock", "1", nx=True, px=max(1, int(period * 1000 * 0.9))):
        return None
    sample = {
        "t": round(now, 3),
        "ingested": int(redis.get(INGESTED_KEY) or 0),
        "ws_connections": connections_total(now),
        "db_bytes": database_size(),
    }
    pipe = redis.pipeline()
    pipe.zadd(SAMPLES_KEY, {json.dumps(sample, separators=(",", ":")): now})
    pipe.zremrangebyscore(SAMPLES_KEY, "-inf", now - KEEP_SECONDS)
    pipe.execute()
    try:
        store_completeness(now)
    except Exception as error:  # the sample stands; /health keeps the previous figures and shows their age
        log.warning("completeness for /health not computed: %s", error)
    return sample


def samples_since(since):
    """Samples with ``t >= since``, oldest first."""
    return [json.loads(raw) for raw in client().zrangebyscore(SAMPLES_KEY, since, "+inf")]


def rates(samples, field):
    """[[t, per-second increase of ``field`` since the previous sample], ...]; a reset counts as 0."""
    points = []
    for previous, current in zip(samples, samples[1:], strict=False):
        elapsed = current["t"] - previous["t"]
        if elapsed > 0:
            points.append([current["t"], round(max(0, current[field] - previous[field]) / elapsed, 3)])
    return points


def values(samples, field):
    return [[sample["t"], sample[field]] for sample in samples]
