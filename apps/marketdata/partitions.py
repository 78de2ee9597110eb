"""Range partitions for the time-series tables: by month, or by day for the tables of ticks.

Partitions keep indexes small as tables grow to hundreds of millions of rows
and let old data be dropped whole (DROP TABLE, no bloat). They are created
ahead of time by a daily task and, for rows outside the prepared range (a
backfill of 2019), on demand by the write path before it inserts.
"""

import re
from datetime import UTC, datetime, timedelta

from django.db import connections, transaction

from apps.marketdata.tables import ALL_TABLES, TICK_TABLES

_PERIODS = {spec.name: spec.partition for spec in ALL_TABLES + TICK_TABLES}
# Daily tables get partitions this many days ahead (the beat task runs daily; the write path covers the rest).
DAYS_AHEAD = 7

# (database alias, table, month start) of partitions known to exist; filled
# only after the creating transaction commits, so a rollback cannot leave a
# stale entry.
_known = set()
_LOCK_KEY = 7_242_001  # advisory lock serialising partition DDL across processes


def month_start(moment):
    moment = moment.astimezone(UTC)
    return datetime(moment.year, moment.month, 1, tzinfo=UTC)


def next_month(start):
    return start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)


def months_between(first, last):
    """Month starts covering ``first`` .. ``last`` inclusive."""
    month, end = month_start(first), month_start(last)
    while month <= end:
        yield month
        month = next_month(month)


def day_start(moment):
    moment = moment.astimezone(UTC)
    return datetime(moment.year, moment.month, moment.day, tzinfo=UTC)


def days_between(first, last):
    """Day starts covering ``first`` .. ``last`` inclusive."""
    day, end = day_start(first), day_start(last)
    while day <= end:
        yield day
        day += timedelta(days=1)


def _daily(table):
    return _PERIODS.get(table) == "day"


def _period_end(table, start):
    return start + timedelta(days=1) if _daily(table) else next_month(start)


def partition_name(table, start):
    return f"{table}_p{start:%Y_%m_%d}" if _daily(table) else f"{table}_p{start:%Y_%m}"


_PERIOD_SUFFIX = re.compile(r"_p(\d{4})_(\d{2})(?:_(\d{2}))?$")


def partition_range(name):
    """[start, end) of a partition named by ``partition_name`` (a month, or a day); None for any other name."""
    match = _PERIOD_SUFFIX.search(name)
    if match is None:
        return None
    year, month, day = int(match[1]), int(match[2]), match[3]
    if day is None:
        start = datetime(year, month, 1, tzinfo=UTC)
        return start, next_month(start)
    start = datetime(year, month, int(day), tzinfo=UTC)
    return start, start + timedelta(days=1)


def ensure_partitions(table, first, last, using="default"):
    """Make sure ``table`` has a partition for every month (or day) from ``first`` to ``last``."""
    periods = days_between(first, last) if _daily(table) else months_between(first, last)
    missing = [m for m in periods if (using, table, m) not in _known]
    if not missing:
        return
    connection = connections[using]
    with transaction.atomic(using=using), connection.cursor() as cursor:
        for month in missing:
            name = partition_name(table, month)
            cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [name])
            if not cursor.fetchone()[0]:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_KEY])
                cursor.execute(
                    f'CREATE TABLE IF NOT EXISTS "{name}" PARTITION OF "{table}" FOR VALUES FROM (%s) TO (%s)',
                    [month, _period_end(table, month)],
                )
            transaction.on_commit(lambda key=(using, table, month): _known.add(key), using=using)


def ensure_partitions_ahead(months_ahead, now=None, using="default"):
    """Create partitions from last month to ``months_ahead`` months after ``now`` for every table."""
    now = now or datetime.now(UTC)
    first = month_start(month_start(now) - timedelta(days=1))
    last = month_start(now)
    for _ in range(months_ahead):
        last = next_month(last)
    for spec in ALL_TABLES:
        ensure_partitions(spec.name, first, last, using=using)
    for spec in TICK_TABLES:
        today = day_start(now)
        ensure_partitions(spec.name, today - timedelta(days=1), today + timedelta(days=DAYS_AHEAD), using=using)


def forget_partitions():
    """Drop the cache, e.g. after partitions were removed by retention."""
    _known.clear()


def existing_partitions(table, using="default"):
    with connections[using].cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = %s::regclass ORDER BY c.relname",
            [table],
        )
        return [row[0] for row in cursor.fetchall()]
