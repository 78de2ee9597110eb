"""Read queries for the time-series tables, shaped for the API.

Raw SQL on purpose: these run on every data request, and the ORM's query
compilation costs more than the indexed range scan itself. Decimals are read
as text so they travel exactly as stored, in plain notation.
"""

import time
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connections
from psycopg.types.datetime import TimestamptzLoader

from apps.marketdata.tables import ALL_TABLES, CANDLES, DECIMAL, FUNDING, OPEN_INTEREST
from apps.markets.intervals import STANDARD_INTERVALS
from apps.markets.models import Starlisting, TradingPair
from lib import replicas
from lib.metrics import CACHE_HITS, CACHE_MISSES

# Fields of the API's items, from the table specs: ``time``, then the values.
CANDLE_FIELDS = CANDLES.item_fields
FUNDING_FIELDS = FUNDING.item_fields
OPEN_INTEREST_FIELDS = OPEN_INTEREST.item_fields

# Each name is matched in its own table and the stored names are read back by
# id, so PostgreSQL plans one or two tables plus trivial subqueries instead of
# searching join orders over seven tables: that planning took most of the
# lookup's time (about 1 ms of 1.3 ms), on every request.
_SERIES_SQL = """
SELECT tp.id, tp.active,
       (SELECT name FROM exchanges WHERE id = tp.exchange_id),
       (SELECT symbol FROM coins WHERE id = tp.coin_id),
       (SELECT symbol FROM quote_currencies WHERE id = tp.quote_id),
       (SELECT name FROM market_types WHERE id = tp.market_type_id){interval_columns}
FROM trading_pairs tp{interval_join}
WHERE tp.exchange_id = ANY(ARRAY(SELECT id FROM exchanges WHERE lower(name) = lower(%s)))
  AND tp.coin_id = ANY(ARRAY(SELECT id FROM coins WHERE lower(symbol) = lower(%s)))
  AND tp.quote_id = ANY(ARRAY(SELECT id FROM quote_currencies WHERE lower(symbol) = lower(%s)))
  AND tp.market_type_id = ANY(ARRAY(SELECT id FROM market_types WHERE lower(name) = lower(%s))){interval_filter}
"""
_PAIR_SQL = _SERIES_SQL.format(interval_columns="", interval_join="", interval_filter="")
_STARLISTING_SQL = _SERIES_SQL.format(
    interval_columns=", s.id, s.active, (SELECT name FROM intervals WHERE id = s.interval_id)",
    interval_join=" JOIN starlistings s ON s.trading_pair_id = tp.id",
    interval_filter=" AND s.interval_id = ANY(ARRAY(SELECT id FROM intervals WHERE name = %s))",
)


# Name lookups run on every data request; the answers change only when an
# operator edits reference data. This process forgets them on any change it
# makes (signals); changes made elsewhere show within KIRBY_SERIES_CACHE_SECONDS.
_series = {}
_hits, _misses = CACHE_HITS.labels("series"), CACHE_MISSES.labels("series")


def _cached(key, load, fresh=False):
    now = time.monotonic()
    hit = None if fresh else _series.get(key)
    if hit is not None and hit[0] > now:
        _hits.inc()
        return hit[1]
    _misses.inc()
    value = load()
    _series[key] = (now + settings.KIRBY_SERIES_CACHE_SECONDS, value)
    return value


def forget_series(**kwargs):
    _series.clear()


def find_trading_pair(exchange, coin, quote, market_type, using="default", fresh=False):
    """(id, active, names dict) of a trading pair, matching names case-insensitively; None if unknown.

    ``fresh``: read the database, not this process's copy (an answer that goes into the shared
    response cache must not be older than the reference-data version it is stored under).
    """
    key = (using, exchange.lower(), coin.lower(), quote.lower(), market_type.lower())
    return _cached(key, lambda: _find_trading_pair(exchange, coin, quote, market_type, using), fresh)


def find_starlisting(exchange, coin, quote, market_type, interval, using="default", fresh=False):
    """(id, active, names dict) of a starlisting; the interval name is case-sensitive (1m vs 1M)."""
    key = (using, exchange.lower(), coin.lower(), quote.lower(), market_type.lower(), interval)
    return _cached(key, lambda: _find_starlisting(exchange, coin, quote, market_type, interval, using), fresh)


def _find_trading_pair(exchange, coin, quote, market_type, using):
    with connections[replicas.read_alias(using)].cursor() as cursor:
        cursor.execute(_PAIR_SQL, [exchange, coin, quote, market_type])
        row = cursor.fetchone()
    if row is None:
        return None
    return row[0], row[1], _names(row)


def _find_starlisting(exchange, coin, quote, market_type, interval, using):
    with connections[replicas.read_alias(using)].cursor() as cursor:
        cursor.execute(_STARLISTING_SQL, [exchange, coin, quote, market_type, interval])
        row = cursor.fetchone()
    if row is None:
        return None
    names = _names(row)
    names["interval"] = row[8]
    return row[6], row[7], names


class Unresolved(ValueError):
    """A series name that names nothing; ``field`` is the first name at fault (a 400's or a command's error)."""

    def __init__(self, field, message):
        self.field = field
        super().__init__(f"{field}: {message}")


_PAIR_FIELDS = (("exchange", "exchange__name"), ("coin", "coin__symbol"), ("quote", "quote__symbol"),
                ("market_type", "market_type__name"))  # fmt: skip


def resolve_trading_pair(exchange, coin, quote, market_type, using="default"):
    """find_trading_pair(), or Unresolved naming the first field that is missing or matches nothing."""
    values = (exchange, coin, quote, market_type)
    found = find_trading_pair(*values, using=using) if all(values) else None
    if found is not None:
        return found
    pairs = TradingPair.objects.using(using)
    for (field, lookup), value in zip(_PAIR_FIELDS, values):
        if not value:
            raise Unresolved(field, "is required")
        pairs = pairs.filter(**{f"{lookup}__iexact": value})
        if not pairs.exists():
            raise Unresolved(field, f"no trading pair matches {value!r} (with the fields before it)")
    raise Unresolved("market_type", "no trading pair matches")


def resolve_starlisting(pair, interval, using="default"):
    """find_starlisting() of a resolved pair, or Unresolved("interval") listing the intervals the pair has."""
    pair_id, _, names = pair
    if not interval:
        raise Unresolved("interval", "is required for candles")
    found = find_starlisting(*(names[field] for field, _ in _PAIR_FIELDS), interval, using=using)
    if found is None:
        known = ", ".join(
            Starlisting.objects.using(using).filter(trading_pair_id=pair_id).values_list("interval__name", flat=True)
        )
        raise Unresolved("interval", f"{pair_path(names)} has no {interval!r} starlisting (it has: {known or 'none'})")
    return found


def pair_path(names):
    """``exchange/coin/quote/market_type`` of a resolved pair's names."""
    return "/".join(names[field] for field, _ in _PAIR_FIELDS)


def _names(row):
    return {
        "exchange": row[2],
        "coin": row[3],
        "quote": row[4],
        "trading_pair": f"{row[3]}/{row[4]}",
        "market_type": row[5],
    }


def _select(spec):
    """The item columns, decimals as text (exact, plain notation)."""
    return ", ".join(f"{c.name}::text" if c.kind == DECIMAL else c.name for c in spec.item_columns)


_SELECTS = {spec.name: _select(spec) for spec in ALL_TABLES}


def _range_query(spec, series_id, window, newest_first, since=None):
    where, params = [f"{spec.series_column} = %s"], [series_id]
    start = window.start if since is None else since
    if start is not None:
        where.append("time >= %s")
        params.append(start)
    if window.end is not None:
        where.append("time < %s")
        params.append(window.end)
    order = "DESC" if newest_first else "ASC"
    sql = f"SELECT {_SELECTS[spec.name]} FROM {spec.name} WHERE {' AND '.join(where)} ORDER BY time {order} LIMIT %s"
    return sql, [*params, window.limit]


_newest_seen = {}  # (database, table, series id) -> open time of the newest row a query returned


def _rows(spec, series_id, window, using, newest_first, step_seconds=None):
    """The first ``limit`` rows of ``[start, end)``, or with ``newest_first`` the newest ``limit`` (descending).

    Newest-first without a start would plan every monthly partition, which
    costs more than the query once history spans years (35 ms at 237
    partitions). So the newest rows are first looked for in a stretch of
    ``limit`` rows at one per ``step_seconds``, twice over, ending at the
    newest row this process has seen of the series (or now): a few
    partitions. Rows newer than that are in the stretch too (it has no upper
    end but ``end``), so when it holds ``limit`` rows they are the newest;
    only when it holds fewer is the whole window read.
    """
    key = (using, spec.name, series_id)
    if newest_first and step_seconds:
        anchor = _newest_seen.get(key) or datetime.now(UTC)
        until = anchor if window.end is None else min(window.end, anchor)
        since = until - timedelta(seconds=2 * step_seconds * window.limit)
        if window.start is None or since > window.start:
            sql, params = _range_query(spec, series_id, window, True, since=since)
            rows = _fetch(sql, params, using)
            if len(rows) == window.limit:
                return rows
    sql, params = _range_query(spec, series_id, window, newest_first)
    rows = _fetch(sql, params, using)
    if newest_first and rows and window.end is None and len(_newest_seen) < 100_000:
        _newest_seen[key] = rows[0][0]
    return rows


def candle_rows(starlisting_id, window, using="default", interval=None):
    """Candles in ``[start, end)`` ascending by open time.

    Without a start the most recent ``limit`` candles (before ``end`` if
    given) are returned; with one, the first ``limit`` from ``start``.
    ``interval`` (its name) lets the newest candles be found without
    planning every partition.
    """
    newest_first = window.start is None
    step = STANDARD_INTERVALS.get(interval)
    rows = _rows(CANDLES, starlisting_id, window, using, newest_first, step)
    if newest_first:
        rows.reverse()
    return [dict(zip(CANDLE_FIELDS, row)) for row in rows]


def funding_rows(trading_pair_id, window, using="default"):
    """The newest ``limit`` funding rows in ``[start, end)``, newest first."""
    rows = _rows(FUNDING, trading_pair_id, window, using, True, settings.KIRBY_CONTEXT_PERIOD_SECONDS)
    return [dict(zip(FUNDING_FIELDS, row)) for row in rows]


def open_interest_rows(trading_pair_id, window, using="default"):
    """The newest ``limit`` open-interest rows in ``[start, end)``, newest first."""
    rows = _rows(OPEN_INTEREST, trading_pair_id, window, using, True, settings.KIRBY_CONTEXT_PERIOD_SECONDS)
    return [dict(zip(OPEN_INTEREST_FIELDS, row)) for row in rows]


_LATEST_CANDLE_SQL = """
SELECT s.id, latest.t
FROM unnest(%s::bigint[]) AS s(id)
CROSS JOIN LATERAL (SELECT max(time) AS t FROM candles WHERE starlisting_id = s.id) latest
"""


def latest_candle_times(starlisting_ids, using="default"):
    """{starlisting id: open time of its newest stored candle, or None}, in one query (for /health's status)."""
    with connections[replicas.read_alias(using)].cursor() as cursor:
        cursor.execute(_LATEST_CANDLE_SQL, [list(starlisting_ids)])
        return dict(cursor.fetchall())


def _fetch(sql, params, using):
    with connections[replicas.read_alias(using)].cursor() as cursor:
        _fast_timestamps(cursor)
        cursor.execute(sql, params)
        return cursor.fetchall()


fetch = _fetch  # for the other read queries of this app (tick_queries.py)


def _fast_timestamps(cursor):
    """Read timestamptz with psycopg's C loader instead of Django's Python one.

    Django registers its own loader (a Python subclass) only to give every
    datetime its connection's tzinfo; it costs about 4 us a value, 4 ms for a
    thousand candles. psycopg's loader gives the session time zone's tzinfo,
    which is the very same object whenever the session runs in Django's zone
    (always, as Django sets it): only then is it swapped in, for this cursor.
    """
    psycopg_cursor = cursor.cursor
    if psycopg_cursor.connection.info.timezone is cursor.db.timezone:
        psycopg_cursor.adapters.register_loader("timestamptz", TimestamptzLoader)


fast_timestamps = _fast_timestamps  # for the write path's RETURNING of many rows (writer.py)
