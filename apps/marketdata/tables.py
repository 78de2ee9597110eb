"""Each time-series table's columns, declared once.

The records (records.py), the read queries' fields (queries.py), the export
columns (export/spec.py) and the documented response items
(api/serializers.py) are derived from these specs; the Django models and the
migrations cannot be, so tests/marketdata/test_table_spec.py holds them
against the specs. A table's first two columns are its key: the series
column, then ``time``; the rest are its values, in the order the API sends
them.

``valid`` is the sanity rule a staged row must pass to be stored (rows that
fail are counted as rejected); ``keep_existing`` is a condition on the
``{stored}`` and ``{incoming}`` row under which the stored row stays. Comparisons against 'Infinity' also exclude
NaN, which PostgreSQL sorts above every number.
"""

import collections
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

# Column kinds; the export's names for them (sidecar files record them).
TIME, DECIMAL, INTEGER, BOOLEAN = "timestamp", "decimal", "integer", "boolean"
# TEXT: an identifier as the venue wrote it; LEVELS: book levels, an n x 2 array of [price, size].
TEXT, LEVELS = "text", "levels"
SQL_TYPES = {
    TIME: "timestamptz",
    DECIMAL: "numeric",
    INTEGER: "bigint",
    BOOLEAN: "boolean",
    TEXT: "text",
    LEVELS: "numeric[]",
}
# What a record accepts: decimals also as strings in plain decimal notation, never floats.
PYTHON_TYPES = {TIME: datetime, DECIMAL: Decimal | str, INTEGER: int, BOOLEAN: bool, TEXT: str, LEVELS: list}
DECIMAL_TEXT = "Exact decimal as a string in plain notation"
_REQUIRED = object()


@dataclass(frozen=True)
class Column:
    name: str
    kind: str
    null: bool = False
    # A record's default; nullable columns default to None.
    default: object = _REQUIRED
    help_text: str = ""

    @property
    def sql_type(self):
        return SQL_TYPES[self.kind]

    @property
    def record_default(self):
        return None if self.default is _REQUIRED and self.null else self.default


@dataclass(frozen=True)
class TableSpec:
    name: str
    record_name: str
    table_columns: tuple  # Column, key first
    valid: str
    series_table: str  # the rows' series must exist there
    keep_existing: str = "false"
    # Columns of the key: the series, ``time``, then (trades) the venue's own id.
    key_size: int = 2
    # Range partitions of one "month" or one "day" (tables of ticks grow by millions of rows a day).
    partition: str = "month"
    record: type = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "record", _record_type(self))

    @property
    def column_types(self):
        """column -> SQL type, in record field order."""
        return {c.name: c.sql_type for c in self.table_columns}

    @property
    def columns(self):
        return [c.name for c in self.table_columns]

    @property
    def series_column(self):
        """The column naming the row's series: ``starlisting_id`` or ``trading_pair_id``."""
        return self.columns[0]

    @property
    def key(self):
        return self.columns[: self.key_size]

    @property
    def values(self):
        return self.columns[self.key_size :]

    @property
    def item_columns(self):
        """The columns of one row as the API, the WebSocket and exports give it: ``time`` and the values."""
        return self.table_columns[1:]

    @property
    def item_fields(self):
        return tuple(c.name for c in self.item_columns)

    @property
    def decimal_columns(self):
        return frozenset(c.name for c in self.table_columns if c.kind == DECIMAL)


def _record_type(spec):
    """The NamedTuple adapters produce and the writer stores: one field per column, in column order."""
    defaults, fields = [], spec.table_columns
    for column in reversed(fields):
        if column.record_default is _REQUIRED:
            break
        defaults.insert(0, column.record_default)
    record = collections.namedtuple(
        spec.record_name, [c.name for c in fields], defaults=defaults, module="apps.marketdata.records"
    )
    record.__annotations__ = {c.name: PYTHON_TYPES[c.kind] | None if c.null else PYTHON_TYPES[c.kind] for c in fields}
    return record


def _decimal(name, help_text, null=False):
    return Column(name, DECIMAL, null=null, help_text=f"{help_text}. {DECIMAL_TEXT}")


def _finite(column):
    return f"({column} > '-Infinity' AND {column} < 'Infinity')"


def _positive_or_null(column):
    return f"({column} IS NULL OR ({column} > 0 AND {column} < 'Infinity'))"


def _non_negative_or_null(column):
    return f"({column} IS NULL OR ({column} >= 0 AND {column} < 'Infinity'))"


CANDLES = TableSpec(
    name="candles",
    record_name="CandleRecord",
    series_table="starlistings",
    table_columns=(
        Column("starlisting_id", INTEGER, help_text="The starlisting (exchange, pair, market type, interval)"),
        Column("time", TIME, help_text="Open time, UTC"),
        _decimal("open", "First price of the interval"),
        _decimal("high", "Highest price of the interval"),
        _decimal("low", "Lowest price of the interval"),
        _decimal("close", "Last price of the interval (the latest price while the candle is open)"),
        _decimal("volume", "Volume traded in the interval, as the exchange reports it"),
        Column("num_trades", INTEGER, null=True, help_text="Trades in the interval; null when the exchange omits it"),
        Column("closed", BOOLEAN, default=False, help_text="True once the candle's interval has ended"),
    ),
    valid=(
        "starlisting_id IS NOT NULL AND time IS NOT NULL AND closed IS NOT NULL"
        " AND low > 0 AND high < 'Infinity' AND high >= low"
        " AND open BETWEEN low AND high AND close BETWEEN low AND high"
        " AND volume >= 0 AND volume < 'Infinity'"
        " AND (num_trades IS NULL OR num_trades >= 0)"
    ),
    # A closed candle is final: a late update of the still-open candle must not reopen it.
    keep_existing="{stored}.closed AND NOT {incoming}.closed",
)

FUNDING = TableSpec(
    name="funding_rates",
    record_name="FundingRecord",
    series_table="trading_pairs",
    table_columns=(
        Column("trading_pair_id", INTEGER, help_text="The trading pair"),
        Column("time", TIME, help_text="When the rate was observed or applied, UTC"),
        _decimal("funding_rate", "Funding rate per funding period"),
        _decimal("premium", "Premium of the perpetual over the index, when the exchange gives it", null=True),
        _decimal("mark_price", "Mark price", null=True),
        _decimal("index_price", "Index price", null=True),
        _decimal("oracle_price", "Oracle price", null=True),
        _decimal("mid_price", "Mid price of the order book", null=True),
        Column("next_funding_time", TIME, null=True, help_text="Next funding time, UTC, when known"),
    ),
    valid=" AND ".join(
        [
            "trading_pair_id IS NOT NULL AND time IS NOT NULL",
            _finite("funding_rate"),
            f"(premium IS NULL OR {_finite('premium')})",
            *(_positive_or_null(c) for c in ("mark_price", "index_price", "oracle_price", "mid_price")),
        ]
    ),
)

OPEN_INTEREST = TableSpec(
    name="open_interest",
    record_name="OpenInterestRecord",
    series_table="trading_pairs",
    table_columns=(
        Column("trading_pair_id", INTEGER, help_text="The trading pair"),
        Column("time", TIME, help_text="When the open interest was observed, UTC"),
        _decimal("open_interest", "Open interest, as the exchange reports it"),
        _decimal("notional_value", "Open interest valued in the quote currency", null=True),
        _decimal("day_base_volume", "Volume of the last 24 hours in the base currency", null=True),
        _decimal("day_notional_volume", "Volume of the last 24 hours in the quote currency", null=True),
    ),
    valid=" AND ".join(
        [
            "trading_pair_id IS NOT NULL AND time IS NOT NULL AND open_interest IS NOT NULL",
            _non_negative_or_null("open_interest"),
            *(_non_negative_or_null(c) for c in ("notional_value", "day_base_volume", "day_notional_volume")),
        ]
    ),
)


def _levels_valid(side):
    """Every price and size positive and finite, as [price, size] pairs (or no level at all)."""
    return (
        f"(cardinality({side}) = 0 OR (array_ndims({side}) = 2 AND array_length({side}, 2) = 2"
        f" AND 0 < ALL({side}) AND 'Infinity' > ALL({side})))"
    )


TRADES = TableSpec(
    name="trades",
    record_name="TradeRecord",
    series_table="trading_pairs",
    table_columns=(
        Column("trading_pair_id", INTEGER, help_text="The trading pair"),
        Column("time", TIME, help_text="When the venue matched the trade, UTC, to the venue's precision"),
        Column("trade_id", TEXT, help_text="The venue's id of the trade (an integer on some venues), as text"),
        _decimal("price", "Price of the trade"),
        _decimal("size", "Size of the trade in the base currency"),
        Column("side", TEXT, help_text="The taker's side: buy or sell"),
    ),
    valid=(
        "trading_pair_id IS NOT NULL AND time IS NOT NULL AND trade_id <> ''"
        " AND price > 0 AND price < 'Infinity' AND size > 0 AND size < 'Infinity'"
        " AND side IN ('buy', 'sell')"
    ),
    # A trade is a fact: a replay after a reconnect never changes the stored one.
    keep_existing="true",
    key_size=3,
    partition="day",
)

ORDER_BOOKS = TableSpec(
    name="orderbook_snapshots",
    record_name="OrderBookRecord",
    series_table="trading_pairs",
    table_columns=(
        Column("trading_pair_id", INTEGER, help_text="The trading pair"),
        Column("time", TIME, help_text="Venue time of the last update in the book, UTC"),
        Column("sequence", INTEGER, null=True, help_text="The venue's sequence number of the book, when it has one"),
        Column("bids", LEVELS, help_text=f"Best bids first, as [price, size] pairs. {DECIMAL_TEXT}s"),
        Column("asks", LEVELS, help_text=f"Best asks first, as [price, size] pairs. {DECIMAL_TEXT}s"),
    ),
    valid=(
        f"trading_pair_id IS NOT NULL AND time IS NOT NULL AND {_levels_valid('bids')} AND {_levels_valid('asks')}"
        # A crossed book is a broken book, never a stored one.
        " AND (cardinality(bids) = 0 OR cardinality(asks) = 0 OR bids[1][1] < asks[1][1])"
    ),
    partition="day",
)

ALL_TABLES = (CANDLES, FUNDING, OPEN_INTEREST)
# Tables of ticks: keyed and partitioned differently, with their own queries, views and export.
TICK_TABLES = (TRADES, ORDER_BOOKS)
# Their data types, as exports, metrics and retention policies name them.
TICKS_BY_DATA_TYPE = {"trades": TRADES, "orderbook": ORDER_BOOKS}
# The data types Kirby names in jobs, gaps, exports and the API, and the table of each.
BY_DATA_TYPE = {"candles": CANDLES, "funding": FUNDING, "open_interest": OPEN_INTEREST}
