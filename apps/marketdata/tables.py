"""What the write path needs to know about each time-series table.

``valid`` is the sanity rule a staged row must pass to be stored (rows that
fail are counted as rejected); ``keep_existing`` is a condition on the
``{stored}`` and ``{incoming}`` row under which the stored row stays. Comparisons against 'Infinity' also exclude
NaN, which PostgreSQL sorts above every number.
"""

from dataclasses import dataclass

from apps.marketdata.records import CandleRecord, FundingRecord, OpenInterestRecord


@dataclass(frozen=True)
class TableSpec:
    name: str
    record: type
    column_types: dict  # column -> SQL type, in record field order
    valid: str
    series_table: str  # the rows' series must exist there
    keep_existing: str = "false"

    @property
    def columns(self):
        return list(self.column_types)

    @property
    def series_column(self):
        """The column naming the row's series: ``starlisting_id`` or ``trading_pair_id``."""
        return self.columns[0]

    @property
    def key(self):
        return self.columns[:2]

    @property
    def values(self):
        return self.columns[2:]


def _finite(column):
    return f"({column} > '-Infinity' AND {column} < 'Infinity')"


def _positive_or_null(column):
    return f"({column} IS NULL OR ({column} > 0 AND {column} < 'Infinity'))"


def _non_negative_or_null(column):
    return f"({column} IS NULL OR ({column} >= 0 AND {column} < 'Infinity'))"


CANDLES = TableSpec(
    name="candles",
    record=CandleRecord,
    series_table="starlistings",
    column_types={
        "starlisting_id": "bigint",
        "time": "timestamptz",
        "open": "numeric",
        "high": "numeric",
        "low": "numeric",
        "close": "numeric",
        "volume": "numeric",
        "num_trades": "bigint",
        "closed": "boolean",
    },
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
    record=FundingRecord,
    series_table="trading_pairs",
    column_types={
        "trading_pair_id": "bigint",
        "time": "timestamptz",
        "funding_rate": "numeric",
        "premium": "numeric",
        "mark_price": "numeric",
        "index_price": "numeric",
        "oracle_price": "numeric",
        "mid_price": "numeric",
        "next_funding_time": "timestamptz",
    },
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
    record=OpenInterestRecord,
    series_table="trading_pairs",
    column_types={
        "trading_pair_id": "bigint",
        "time": "timestamptz",
        "open_interest": "numeric",
        "notional_value": "numeric",
        "day_base_volume": "numeric",
        "day_notional_volume": "numeric",
    },
    valid=" AND ".join(
        [
            "trading_pair_id IS NOT NULL AND time IS NOT NULL AND open_interest IS NOT NULL",
            _non_negative_or_null("open_interest"),
            *(_non_negative_or_null(c) for c in ("notional_value", "day_base_volume", "day_notional_volume")),
        ]
    ),
)

ALL_TABLES = (CANDLES, FUNDING, OPEN_INTEREST)
# The data types Kirby names in jobs, gaps, exports and the API, and the table of each.
BY_DATA_TYPE = {"candles": CANDLES, "funding": FUNDING, "open_interest": OPEN_INTEREST}
