"""What the stored tables hold of a series: counts, newest rows, holes (reads for backfill and the gap ledger).

Every query names its table and series column through apps.marketdata.tables,
so the (table, series column) map has one home. Candles count only when
closed; funding counts hours (live rows come every minute, history hourly).
Times are epoch milliseconds, UTC; windows half-open ``[start, end)``.
"""

from django.db import connections

from apps.marketdata.tables import BY_DATA_TYPE, CANDLES
from lib.timeutil import from_ms, to_ms

_CLOSED = {"candles": " AND closed"}
_SLOT = {"funding": "date_trunc('hour', time)"}


def _table(data_type):
    spec = BY_DATA_TYPE[data_type]
    return spec.name, spec.series_column, _CLOSED.get(data_type, "")


def slots_present(data_type, series_id, start_ms, end_ms, using="default"):
    """Slots in ``[start, end)`` that hold a row."""
    table, column, closed = _table(data_type)
    what = f"count(DISTINCT {_SLOT[data_type]})" if data_type in _SLOT else "count(*)"
    with connections[using].cursor() as cursor:
        cursor.execute(
            f"SELECT {what} FROM {table} WHERE {column} = %s AND time >= %s AND time < %s{closed}",
            [series_id, from_ms(start_ms), from_ms(end_ms)],
        )
        return cursor.fetchone()[0]


def newest_candle_ms(starlisting_id, using="default"):
    """Open time of the newest candle stored (open or closed), or None."""
    with connections[using].cursor() as cursor:
        cursor.execute(f"SELECT max(time) FROM {CANDLES.name} WHERE {CANDLES.series_column} = %s", [starlisting_id])
        newest = cursor.fetchone()[0]
    return to_ms(newest) if newest else None


def stored_funding_times(trading_pair_id, times, using="default"):
    """The ones of ``times`` (datetimes) at which the pair has a funding row."""
    return stored_times("funding", trading_pair_id, times, using)


def stored_times(data_type, series_id, times, using="default"):
    """The ones of ``times`` (datetimes) at which the series has a row of ``data_type``."""
    table, column, _ = _table(data_type)
    with connections[using].cursor() as cursor:
        cursor.execute(f"SELECT time FROM {table} WHERE {column} = %s AND time = ANY(%s)", [series_id, list(times)])
        return {row[0] for row in cursor.fetchall()}


def after_last_closed(starlisting_ids, before_ms, using="default"):
    """Where reading back should start: after the last closed candle, or at the oldest left open before ``before_ms``.

    None when none of the starlistings holds a candle of either kind.
    """
    with connections[using].cursor() as cursor:
        cursor.execute(
            f"SELECT max(time) FILTER (WHERE closed), min(time) FILTER (WHERE NOT closed AND time < %s)"
            f" FROM {CANDLES.name} WHERE {CANDLES.series_column} = ANY(%s)",
            [from_ms(before_ms), list(starlisting_ids)],
        )
        last_closed, oldest_open = cursor.fetchone()
    starts = []
    if last_closed is not None:
        starts.append(to_ms(last_closed) + 1)
    if oldest_open is not None:
        starts.append(to_ms(oldest_open))
    return min(starts, default=None)


_HOLES_SQL = """
SELECT slot, next_slot FROM (
  SELECT slot, lead(slot) OVER (ORDER BY slot) AS next_slot, lead(ingested) OVER (ORDER BY slot) AS next_ingested
  FROM (SELECT {bucket} AS slot, max(ingested_at) AS ingested FROM {table}
        WHERE {column} = %(series)s AND time >= %(since)s{closed} GROUP BY 1) rows
) pairs
WHERE next_slot > slot + %(gap)s::interval AND next_ingested < %(settled)s
ORDER BY slot
"""


def holes(data_type, series_id, since, gap, settled, using="default"):
    """[(slot, next slot)] (datetimes) of consecutive stored slots since ``since`` more than ``gap`` apart.

    ``gap`` is a PostgreSQL interval; a pair counts once the row after the
    hole was stored before ``settled``.
    """
    table, column, closed = _table(data_type)
    sql = _HOLES_SQL.format(bucket=_SLOT.get(data_type, "time"), table=table, column=column, closed=closed)
    with connections[using].cursor() as cursor:
        cursor.execute(sql, {"series": series_id, "since": since, "gap": gap, "settled": settled})
        return cursor.fetchall()


def last_time(data_type, series_id, since, using="default"):
    """Time of the series' newest row since ``since`` (closed candles only), or None."""
    table, column, closed = _table(data_type)
    with connections[using].cursor() as cursor:
        cursor.execute(f"SELECT max(time) FROM {table} WHERE {column} = %s AND time >= %s{closed}", [series_id, since])
        return cursor.fetchone()[0]


def closed_candle_spans(starlisting_ids, since, using="default"):
    """{starlisting id: (first, last)} times of the closed candles since ``since``."""
    with connections[using].cursor() as cursor:
        cursor.execute(
            f"SELECT {CANDLES.series_column}, min(time), max(time) FROM {CANDLES.name}"
            f" WHERE {CANDLES.series_column} = ANY(%s) AND time >= %s AND closed GROUP BY 1",
            [list(starlisting_ids), since],
        )
        return {sid: (first, last) for sid, first, last in cursor.fetchall()}


_WINDOWS = (
    "unnest(%(ids)s::bigint[], %(starts)s::timestamptz[], %(ends)s::timestamptz[]) WITH ORDINALITY AS w(id, s, e, n)"
)


def closed_candles_in(windows, using="default"):
    """Closed candles stored in each ``(starlisting id, start, end)`` window (datetimes), in order; one query."""
    if not windows:
        return []
    params = {"ids": [w[0] for w in windows], "starts": [w[1] for w in windows], "ends": [w[2] for w in windows]}
    with connections[using].cursor() as cursor:
        cursor.execute(
            f"SELECT (SELECT count(*) FROM {CANDLES.name} c WHERE c.{CANDLES.series_column} = w.id AND c.closed"
            f" AND c.time >= w.s AND c.time < w.e) FROM {_WINDOWS} ORDER BY w.n",
            params,
        )
        return [row[0] for row in cursor.fetchall()]
