"""Retention of the time-series tables: each policy's horizon, and removing what lies before it.

A policy keeps ``keep_days`` (None: forever) up to now; its *horizon* is the
oldest time still kept. Where a whole partition (a month; a day for trades
and order-book snapshots) lies before the horizon and holds no row another
policy keeps, it is detached and dropped (no row-by-row delete, no bloat). Where a partition is shared (1m candles
next to 1d candles: candles are partitioned by month, not by interval) only
the policy's rows go, deleted in batches of KIRBY_RETENTION_BATCH_ROWS with
KIRBY_RETENTION_PAUSE_SECONDS between them, each batch its own short
transaction, so live ingestion and reads keep their latency.

The gap ledger, completeness and backfill ask ``horizon_of_series`` so that
purged history is never counted as missing.
"""

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connections, transaction
from django.utils import timezone

from apps.marketdata.models import RetentionPolicy
from apps.marketdata.partitions import existing_partitions, forget_partitions, partition_range
from apps.marketdata.tables import BY_DATA_TYPE, CANDLES, TICKS_BY_DATA_TYPE
from apps.markets.intervals import STANDARD_INTERVALS
from apps.markets.models import Starlisting

# One policy per candle interval, and one per other time-series table (``trades``, ``orderbook`` included:
# daily partitions), its default from KIRBY_RETENTION_DAYS (e.g. ``trades=30``), forever when not listed.
# A new table gets its policy by joining tables.BY_DATA_TYPE or TICKS_BY_DATA_TYPE (a ``time`` column,
# partitions named by partitions.partition_name).
_TABLES = {**BY_DATA_TYPE, **TICKS_BY_DATA_TYPE}
SERIES_POLICIES = [f"candles:{interval}" for interval in STANDARD_INTERVALS] + [
    data_type for data_type in _TABLES if data_type != "candles"
]
OTHER_POLICIES = ["api_usage", "export_files", "backups"]
POLICIES = SERIES_POLICIES + OTHER_POLICIES


def default_days(name):
    if name == "api_usage":
        return float(settings.KIRBY_USAGE_RETENTION_DAYS)
    if name == "export_files":
        return settings.KIRBY_EXPORT_RETENTION_HOURS / 24
    return settings.KIRBY_RETENTION_DAYS.get(name)


def policies():
    """Every policy, created with its default the first time; {name: RetentionPolicy} in POLICIES order."""
    stored = {p.name: p for p in RetentionPolicy.objects.all()}
    for name in POLICIES:
        if name not in stored:
            stored[name], _ = RetentionPolicy.objects.get_or_create(
                name=name, defaults={"keep_days": default_days(name)}
            )
    return {name: stored[name] for name in POLICIES}


def horizon(keep_days, now=None):
    """The oldest time a policy keeping ``keep_days`` still keeps; None for forever."""
    if keep_days is None:
        return None
    return (now or timezone.now()) - timedelta(days=keep_days)


def horizons(now=None):
    """{policy name: horizon or None}, from the stored policies (their defaults where none is stored)."""
    stored = dict(RetentionPolicy.objects.values_list("name", "keep_days"))
    return {name: horizon(stored[name] if name in stored else default_days(name), now) for name in POLICIES}


def series_policy(data_type, interval=None):
    return f"candles:{interval}" if data_type == "candles" else data_type


def horizon_of_series(series, now=None, using="default"):
    """The horizon of a Series (apps.marketdata.series): history before it was removed on purpose."""
    interval = None
    if series.data_type == "candles":
        interval = Starlisting.objects.using(using).filter(id=series.starlisting_id).values_list(
            "interval__name", flat=True
        ).first()  # fmt: skip
    return horizons(now).get(series_policy(series.data_type, interval))


@dataclass
class Freed:
    """What a policy removed (or, in a dry run, would remove)."""

    rows: int = 0
    bytes: int = 0
    oldest: datetime | None = None
    newest: datetime | None = None
    partitions: list = field(default_factory=list)

    def add(self, rows, size, oldest, newest):
        self.rows += rows
        self.bytes += size
        if oldest is not None:
            self.oldest = oldest if self.oldest is None else min(self.oldest, oldest)
            self.newest = newest if self.newest is None else max(self.newest, newest)


def _series_ids(name, using):
    """Ids of the series a policy covers in its table (None: every row of the table)."""
    if not name.startswith("candles:"):
        return None
    interval = name.split(":", 1)[1]
    return list(Starlisting.objects.using(using).filter(interval__name=interval).values_list("id", flat=True))


def purge_series(name, cutoff, *, dry_run=False, using="default", batch_rows=None, pause=None, partitions=None):
    """Remove the rows of policy ``name`` (a SERIES_POLICIES entry) older than ``cutoff``; return Freed.

    ``partitions`` narrows the work to those partitions (default: every partition of the table).
    """
    spec = CANDLES if name.startswith("candles:") else _TABLES[name]
    ids = _series_ids(name, using)
    freed = Freed()
    if ids == []:
        return freed
    batch_rows = batch_rows or settings.KIRBY_RETENTION_BATCH_ROWS
    pause = settings.KIRBY_RETENTION_PAUSE_SECONDS if pause is None else pause
    mine = "" if ids is None else f" AND {spec.series_column} = ANY(%s)"
    params = [] if ids is None else [ids]
    connection = connections[using]
    for partition in partitions or existing_partitions(spec.name, using):
        period = partition_range(partition)
        if period is None or period[0] >= cutoff:
            continue
        with connection.cursor() as cursor:
            cursor.execute(
                f'SELECT count(*), min(time), max(time) FROM "{partition}" WHERE time < %s{mine}', [cutoff, *params]
            )
            rows, oldest, newest = cursor.fetchone()
            if not rows:
                continue
            cursor.execute(
                "SELECT pg_total_relation_size(%s::regclass), greatest(reltuples, 1) FROM pg_class"
                " WHERE oid = %s::regclass",
                [partition, partition],
            )
            size, tuples = cursor.fetchone()
            whole = period[1] <= cutoff
            if whole and ids is not None:
                cursor.execute(
                    f'SELECT NOT EXISTS (SELECT 1 FROM "{partition}" WHERE {spec.series_column} <> ALL(%s))', [ids]
                )
                whole = cursor.fetchone()[0]
        if whole:
            freed.add(rows, size, oldest, newest)
            freed.partitions.append(partition)
            if not dry_run:
                _drop_partition(spec.name, partition, using)
        else:
            freed.add(rows, int(size * min(1.0, rows / tuples)), oldest, newest)
            if not dry_run:
                _delete_in_batches(partition, f"time < %s{mine}", [cutoff, *params], batch_rows, pause, using)
    if freed.partitions and not dry_run:
        forget_partitions()
    return freed


def _drop_partition(table, partition, using):
    """Detach (concurrently when not inside a transaction, so readers and writers are not blocked) and drop."""
    connection = connections[using]
    with connection.cursor() as cursor:
        if connection.in_atomic_block:
            cursor.execute("SET LOCAL lock_timeout = '10s'")
            cursor.execute(f'ALTER TABLE "{table}" DETACH PARTITION "{partition}"')
        else:
            cursor.execute(f'ALTER TABLE "{table}" DETACH PARTITION "{partition}" CONCURRENTLY')
        cursor.execute(f'DROP TABLE "{partition}"')


def _delete_in_batches(partition, condition, params, batch_rows, pause, using):
    while True:
        with transaction.atomic(using=using), connections[using].cursor() as cursor:
            cursor.execute(
                f'DELETE FROM "{partition}" WHERE ctid = ANY(ARRAY('
                f'SELECT ctid FROM "{partition}" WHERE {condition} LIMIT %s))',
                [*params, batch_rows],
            )
            deleted = cursor.rowcount
        if deleted < batch_rows:
            return
        if pause:
            time.sleep(pause)


def record_run(policy, freed=None, error=""):
    policy.last_run_at = timezone.now()
    policy.last_rows_freed = freed.rows if freed else 0
    policy.last_bytes_freed = freed.bytes if freed else 0
    policy.last_partitions_dropped = len(freed.partitions) if freed else 0
    policy.last_error = error[:2000]
    policy.save(update_fields=["last_run_at", "last_rows_freed", "last_bytes_freed", "last_partitions_dropped",
                               "last_error", "updated_at"])  # fmt: skip


def average_row_bytes(table, using="default"):
    with connections[using].cursor() as cursor:
        cursor.execute(
            "SELECT pg_total_relation_size(%s::regclass) / greatest(reltuples, 1) FROM pg_class"
            " WHERE oid = %s::regclass",
            [table, table],
        )
        return int(cursor.fetchone()[0])
