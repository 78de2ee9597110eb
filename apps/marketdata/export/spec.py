"""What each export type contains: its columns and the SQL that produces them in time order.

Columns are the API's fields. ``merged`` is candles joined with the funding
and open-interest state as of each candle's open time: the latest funding and
open-interest rows at or before it (Kirby 1.x's merged columns). Numbers
travel as PostgreSQL's exact ``numeric`` text (zero stays ``0``, NULL stays
empty), times as ISO-8601 UTC with ``Z``, booleans as ``true``/``false``.
"""

from dataclasses import dataclass

from apps.marketdata import tables
from apps.marketdata.tables import BOOLEAN, LEVELS, TIME

CANDLES, FUNDING, OPEN_INTEREST, MERGED = "candles", "funding", "open_interest", "merged"
TRADES, ORDERBOOK = "trades", "orderbook"
TYPES = (CANDLES, FUNDING, OPEN_INTEREST, MERGED, TRADES, ORDERBOOK)
_TABLES = {**tables.BY_DATA_TYPE, TRADES: tables.TRADES, ORDERBOOK: tables.ORDER_BOOKS}
# Many trades share a millisecond: then by trade id, integer ids in numeric order (as GET /trades).
_ORDER = {TRADES: "time, length(trade_id), trade_id"}
WITH_INTERVAL = (CANDLES, MERGED)


def _columns(table):
    """(name, kind) of each column an export of ``table`` has: its item columns (``time``, then the values)."""
    return tuple((c.name, c.kind) for c in table.item_columns)


CANDLE_COLUMNS = _columns(tables.CANDLES)
FUNDING_COLUMNS = _columns(tables.FUNDING)
OPEN_INTEREST_COLUMNS = _columns(tables.OPEN_INTEREST)
MERGED_COLUMNS = CANDLE_COLUMNS + FUNDING_COLUMNS[1:] + OPEN_INTEREST_COLUMNS[1:]
TRADE_COLUMNS = _columns(tables.TRADES)
BOOK_COLUMNS = _columns(tables.ORDER_BOOKS)

COLUMNS = {
    CANDLES: CANDLE_COLUMNS,
    FUNDING: FUNDING_COLUMNS,
    OPEN_INTEREST: OPEN_INTEREST_COLUMNS,
    MERGED: MERGED_COLUMNS,
    TRADES: TRADE_COLUMNS,
    ORDERBOOK: BOOK_COLUMNS,
}


def _value(column, kind, table=None):
    qualified = f"{table}.{column}" if table else column
    if kind == TIME:
        # Naive UTC text in ISO style ("2025-01-01 00:00:00[.fraction]") with T and Z added.
        return f"replace(({qualified} AT TIME ZONE 'UTC')::text, ' ', 'T') || 'Z'"
    if kind == BOOLEAN:
        return f"{qualified}::text"  # true / false (COPY itself would print t / f)
    if kind == LEVELS:
        return f"array_to_json({qualified}::text[])::text"  # [["97000.5","1.25"], ...]: exact digits as strings
    return qualified


def _window(where, params, start, end, column="time"):
    if start is not None:
        where.append(f"{column} >= %s")
        params.append(start)
    if end is not None:
        where.append(f"{column} < %s")
        params.append(end)


@dataclass(frozen=True)
class Query:
    sql: str
    params: list


def select(export_type, series_id, start, end):
    """The SELECT of one export: ``series_id`` is a starlisting id (candles, merged) or a trading pair id."""
    if export_type == MERGED:
        return _merged(series_id, start, end)
    table = _TABLES[export_type]
    where, params = [f"{table.series_column} = %s"], [series_id]
    _window(where, params, start, end)
    columns = ", ".join(f"{_value(name, kind)} AS {name}" for name, kind in COLUMNS[export_type])
    order = _ORDER.get(export_type, "time")
    return Query(f"SELECT {columns} FROM {table.name} WHERE {' AND '.join(where)} ORDER BY {order}", params)


def _merged(series_id, start, end):
    starlisting_id, trading_pair_id = series_id
    columns = [f"{_value(name, kind, 'c')} AS {name}" for name, kind in CANDLE_COLUMNS]
    columns += [f"{_value(name, kind, 'f')} AS {name}" for name, kind in FUNDING_COLUMNS[1:]]
    columns += [f"{_value(name, kind, 'o')} AS {name}" for name, kind in OPEN_INTEREST_COLUMNS[1:]]
    where, params = ["c.starlisting_id = %s"], [trading_pair_id, trading_pair_id, starlisting_id]
    _window(where, params, start, end, column="c.time")
    sql = (
        f"SELECT {', '.join(columns)} FROM candles c"
        " LEFT JOIN LATERAL (SELECT * FROM funding_rates WHERE trading_pair_id = %s AND time <= c.time"
        " ORDER BY time DESC LIMIT 1) f ON true"
        " LEFT JOIN LATERAL (SELECT * FROM open_interest WHERE trading_pair_id = %s AND time <= c.time"
        " ORDER BY time DESC LIMIT 1) o ON true"
        f" WHERE {' AND '.join(where)} ORDER BY c.time"
    )
    return Query(sql, params)


def count(export_type, series_id, start, end):
    """Rows the export will have (for progress): merged has one row per candle."""
    if export_type == MERGED:
        export_type, series_id = CANDLES, series_id[0]
    table = _TABLES[export_type]
    where, params = [f"{table.series_column} = %s"], [series_id]
    _window(where, params, start, end)
    return Query(f"SELECT count(*) FROM {table.name} WHERE {' AND '.join(where)}", params)


def count_up_to(export_type, series_id, start, end, limit):
    """Rows the export will have, counted no further than ``limit`` (cheap whatever the window holds)."""
    if export_type == MERGED:
        export_type, series_id = CANDLES, series_id[0]
    table = _TABLES[export_type]
    where, params = [f"{table.series_column} = %s"], [series_id]
    _window(where, params, start, end)
    inner = f"SELECT 1 FROM {table.name} WHERE {' AND '.join(where)} LIMIT %s"
    return Query(f"SELECT count(*) FROM ({inner}) AS bounded", [*params, limit])
