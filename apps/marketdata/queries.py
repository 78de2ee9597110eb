"""Read queries for the time-series tables, shaped for the API.

Raw SQL on purpose: these run on every data request, and the ORM's query
compilation costs more than the indexed range scan itself. Decimals are read
as text so they travel exactly as stored, in plain notation.
"""

from django.db import connections

CANDLE_FIELDS = ("time", "open", "high", "low", "close", "volume", "num_trades", "closed")
FUNDING_FIELDS = (
    "time",
    "funding_rate",
    "premium",
    "mark_price",
    "index_price",
    "oracle_price",
    "mid_price",
    "next_funding_time",
)
OPEN_INTEREST_FIELDS = ("time", "open_interest", "notional_value", "day_base_volume", "day_notional_volume")

_NUMERIC = {
    "open",
    "high",
    "low",
    "close",
    "volume",
    "funding_rate",
    "premium",
    "mark_price",
    "index_price",
    "oracle_price",
    "mid_price",
    "open_interest",
    "notional_value",
    "day_base_volume",
    "day_notional_volume",
}

_SERIES_SQL = """
SELECT tp.id, tp.active, e.name, c.symbol, q.symbol, m.name{interval_columns}
FROM trading_pairs tp
JOIN exchanges e ON e.id = tp.exchange_id
JOIN coins c ON c.id = tp.coin_id
JOIN quote_currencies q ON q.id = tp.quote_id
JOIN market_types m ON m.id = tp.market_type_id
{interval_join}
WHERE lower(e.name) = lower(%s) AND lower(c.symbol) = lower(%s)
  AND lower(q.symbol) = lower(%s) AND lower(m.name) = lower(%s){interval_filter}
"""
_PAIR_SQL = _SERIES_SQL.format(interval_columns="", interval_join="", interval_filter="")
_STARLISTING_SQL = _SERIES_SQL.format(
    interval_columns=", s.id, s.active, i.name",
    interval_join="JOIN starlistings s ON s.trading_pair_id = tp.id JOIN intervals i ON i.id = s.interval_id",
    interval_filter=" AND i.name = %s",
)


def find_trading_pair(exchange, coin, quote, market_type, using="default"):
    """(id, active, names dict) of a trading pair, matching names case-insensitively; None if unknown."""
    with connections[using].cursor() as cursor:
        cursor.execute(_PAIR_SQL, [exchange, coin, quote, market_type])
        row = cursor.fetchone()
    if row is None:
        return None
    return row[0], row[1], _names(row)


def find_starlisting(exchange, coin, quote, market_type, interval, using="default"):
    """(id, active, names dict) of a starlisting; the interval name is case-sensitive (1m vs 1M)."""
    with connections[using].cursor() as cursor:
        cursor.execute(_STARLISTING_SQL, [exchange, coin, quote, market_type, interval])
        row = cursor.fetchone()
    if row is None:
        return None
    names = _names(row)
    names["interval"] = row[8]
    return row[6], row[7], names


def _names(row):
    return {
        "exchange": row[2],
        "coin": row[3],
        "quote": row[4],
        "trading_pair": f"{row[3]}/{row[4]}",
        "market_type": row[5],
    }


def _select(fields):
    return ", ".join(f"{name}::text" if name in _NUMERIC else name for name in fields)


def _range_query(table, series_column, fields, series_id, window, newest_first):
    where, params = [f"{series_column} = %s"], [series_id]
    if window.start is not None:
        where.append("time >= %s")
        params.append(window.start)
    if window.end is not None:
        where.append("time < %s")
        params.append(window.end)
    order = "DESC" if newest_first else "ASC"
    sql = f"SELECT {_select(fields)} FROM {table} WHERE {' AND '.join(where)} ORDER BY time {order} LIMIT %s"
    return sql, [*params, window.limit]


def candle_rows(starlisting_id, window, using="default"):
    """Candles in ``[start, end)`` ascending by open time.

    Without a start the most recent ``limit`` candles (before ``end`` if
    given) are returned; with one, the first ``limit`` from ``start``.
    """
    newest_first = window.start is None
    sql, params = _range_query("candles", "starlisting_id", CANDLE_FIELDS, starlisting_id, window, newest_first)
    rows = _fetch(sql, params, using)
    if newest_first:
        rows.reverse()
    return [dict(zip(CANDLE_FIELDS, row)) for row in rows]


def funding_rows(trading_pair_id, window, using="default"):
    """The newest ``limit`` funding rows in ``[start, end)``, newest first."""
    sql, params = _range_query("funding_rates", "trading_pair_id", FUNDING_FIELDS, trading_pair_id, window, True)
    return [dict(zip(FUNDING_FIELDS, row)) for row in _fetch(sql, params, using)]


def open_interest_rows(trading_pair_id, window, using="default"):
    """The newest ``limit`` open-interest rows in ``[start, end)``, newest first."""
    sql, params = _range_query("open_interest", "trading_pair_id", OPEN_INTEREST_FIELDS, trading_pair_id, window, True)
    return [dict(zip(OPEN_INTEREST_FIELDS, row)) for row in _fetch(sql, params, using)]


def _fetch(sql, params, using):
    with connections[using].cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()
