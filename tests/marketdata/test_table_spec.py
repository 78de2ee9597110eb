"""The table specs (apps.marketdata.tables) are the one declaration of each table's columns.

Records, query fields, export columns and the documented items are derived
from them; the Django models and the migrated tables cannot be, so they are
held against the specs here, as are the real responses and export files.
Adding a column in one place only fails one of these tests.
"""

import csv
import io
from decimal import Decimal

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.contrib.postgres.fields import ArrayField
from django.db import connection, models

from apps.marketdata.export import spec as export_spec
from apps.marketdata.fields import ExactDecimalField
from apps.marketdata.models import Candle, FundingRate, OpenInterest, OrderBookSnapshot, Trade
from apps.marketdata.records import CandleRecord, FundingRecord, OpenInterestRecord
from apps.marketdata.tables import (
    ALL_TABLES,
    BOOLEAN,
    BY_DATA_TYPE,
    CANDLES,
    DECIMAL,
    FUNDING,
    INTEGER,
    LEVELS,
    OPEN_INTEREST,
    ORDER_BOOKS,
    TEXT,
    TICK_TABLES,
    TIME,
    TRADES,
)
from apps.marketdata.writer import write_candles, write_funding, write_open_interest
from tests.api.openapi import assert_documented, published, response_schema
from tests.marketdata.export_data import END, START, write_rows

MODELS = {
    CANDLES.name: Candle,
    FUNDING.name: FundingRate,
    OPEN_INTEREST.name: OpenInterest,
    TRADES.name: Trade,
    ORDER_BOOKS.name: OrderBookSnapshot,
}
# Filled in by the database when a row is first stored; no record carries it.
STORED_ONLY = ["ingested_at"]
FIELD_KINDS = [(ExactDecimalField, DECIMAL), (models.DateTimeField, TIME), (models.BigIntegerField, INTEGER),
               (models.BooleanField, BOOLEAN), (models.TextField, TEXT), (ArrayField, LEVELS)]  # fmt: skip
SQL_TYPE_NAMES = {"timestamptz": "timestamp with time zone"}
by_table = pytest.mark.parametrize("table", ALL_TABLES, ids=lambda t: t.name)
by_stored_table = pytest.mark.parametrize("table", ALL_TABLES + TICK_TABLES, ids=lambda t: t.name)


def kind_of(field):
    return next(kind for field_type, kind in FIELD_KINDS if isinstance(field, field_type))


@by_stored_table
def test_the_model_declares_the_spec_columns(table):
    model = MODELS[table.name]
    fields = [f for f in model._meta.concrete_fields if f.column not in STORED_ONLY]
    series, *rest = fields

    assert model._meta.db_table == table.name
    assert [f.column for f in fields] == table.columns
    assert [f.column for f in model._meta.concrete_fields if f not in fields] == STORED_ONLY
    assert isinstance(series, models.ForeignKey) and series.related_model._meta.db_table == table.series_table
    assert [(f.column, kind_of(f)) for f in rest] == [(c.name, c.kind) for c in table.item_columns]
    assert [(f.column, f.null) for f in fields] == [(c.name, c.null) for c in table.table_columns]
    assert [f.column for f in model._meta.pk.fields] == table.key


@by_stored_table
def test_the_migrated_table_has_the_spec_columns_and_key(table, db):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT attname, format_type(atttypid, atttypmod), attnotnull FROM pg_attribute"
            " WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
            [table.name],
        )
        stored = [row for row in cursor.fetchall() if row[0] not in STORED_ONLY]
        cursor.execute(
            "SELECT a.attname FROM pg_constraint c, unnest(c.conkey) WITH ORDINALITY AS k(attnum, n), pg_attribute a"
            " WHERE c.conrelid = %s::regclass AND c.contype = 'p' AND a.attrelid = c.conrelid AND a.attnum = k.attnum"
            " ORDER BY k.n",
            [table.name],
        )
        key = [row[0] for row in cursor.fetchall()]

    assert stored == [(c.name, SQL_TYPE_NAMES.get(c.sql_type, c.sql_type), not c.null) for c in table.table_columns]
    assert key == table.key


def test_records_carry_the_spec_columns_and_store_their_defaults(world):
    t = START
    write_candles([CandleRecord(world.btc_1m.id, t, "1", "2", "0.5", "1.5", "10")], publish=False)
    write_funding([FundingRecord(world.btc_pair.id, t, "0.0001")], publish=False)
    write_open_interest([OpenInterestRecord(world.btc_pair.id, t, "5")], publish=False)

    assert (CandleRecord._fields, FundingRecord._fields, OpenInterestRecord._fields) == tuple(
        tuple(table.columns) for table in (CANDLES, FUNDING, OPEN_INTEREST)
    )
    candle = Candle.objects.get(starlisting_id=world.btc_1m.id, time=t)
    assert (candle.num_trades, candle.closed) == (None, False)
    funding = FundingRate.objects.values(*FUNDING.values).get(trading_pair_id=world.btc_pair.id, time=t)
    assert funding == {"funding_rate": Decimal("0.0001"), **dict.fromkeys(FUNDING.values[1:])}
    interest = OpenInterest.objects.values(*OPEN_INTEREST.values).get(trading_pair_id=world.btc_pair.id, time=t)
    assert interest == {"open_interest": 5, **dict.fromkeys(OPEN_INTEREST.values[1:])}


EXPORT_PATHS = {
    "candles": "/export/candles/hyperliquid/BTC/USD/perps/1m",
    "funding": "/export/funding/hyperliquid/BTC/USD/perps",
    "open_interest": "/export/open_interest/hyperliquid/BTC/USD/perps",
    "merged": "/export/merged/hyperliquid/BTC/USD/perps/1m",
}
WINDOW = {"start_time": START.isoformat(), "end_time": END.isoformat()}
ARROW_TYPES = {
    TIME: pa.timestamp("us", tz="UTC"),
    DECIMAL: pa.decimal128(38, 18),
    INTEGER: pa.int64(),
    BOOLEAN: pa.bool_(),
}


@pytest.fixture
def rows(world):
    write_rows(world.btc_1m.id, world.btc_pair.id, "default")
    return world


def content(response):
    assert response.status_code == 200, response.content
    return b"".join(response.streaming_content)


@pytest.mark.parametrize("export_type", list(EXPORT_PATHS))
def test_export_files_have_the_spec_columns(client, rows, export_type):
    tables = [CANDLES, FUNDING, OPEN_INTEREST] if export_type == "merged" else [BY_DATA_TYPE[export_type]]
    columns = [(c.name, c.kind) for c in tables[0].item_columns]
    columns += [(c.name, c.kind) for table in tables[1:] for c in table.table_columns[2:]]

    header = next(csv.reader(io.StringIO(content(client.get(EXPORT_PATHS[export_type], WINDOW)).decode())))
    parquet = pq.read_table(io.BytesIO(content(client.get(EXPORT_PATHS[export_type], {**WINDOW, "format": "parquet"}))))

    assert list(export_spec.COLUMNS[export_type]) == columns
    assert header == [name for name, _ in columns]
    assert [(f.name, f.type) for f in parquet.schema] == [(name, ARROW_TYPES[kind]) for name, kind in columns]


DATA_PATHS = {
    CANDLES.name: (
        "/candles/{exchange}/{coin}/{quote}/{market_type}/{interval}",
        "/candles/hyperliquid/BTC/USD/perps/1m",
    ),
    FUNDING.name: ("/funding/{exchange}/{coin}/{quote}/{market_type}", "/funding/hyperliquid/BTC/USD/perps"),
    OPEN_INTEREST.name: (
        "/open-interest/{exchange}/{coin}/{quote}/{market_type}",
        "/open-interest/hyperliquid/BTC/USD/perps",
    ),
}
DOCUMENTED_TYPES = {TIME: ("string", "date-time"), DECIMAL: ("string", None), INTEGER: ("integer", None),
                    BOOLEAN: ("boolean", None)}  # fmt: skip


@by_table
def test_the_documented_items_are_the_spec_columns_and_what_is_sent(client, rows, table):
    documented_path, path = DATA_PATHS[table.name]
    schema = response_schema(published(client), documented_path)
    item = schema["properties"]["data"]["items"]
    response = client.get(path, WINDOW)
    body = response.json()

    documented = []
    for name, field in item["properties"].items():
        nullable = "anyOf" in field
        field = field["anyOf"][0] if nullable else field
        documented.append((name, (field["type"], field.get("format")), nullable))
    assert documented == [(c.name, DOCUMENTED_TYPES[c.kind], c.null) for c in table.item_columns]
    assert response.status_code == 200 and body["data"], body
    assert all(list(row) == list(table.item_fields) for row in body["data"])
    assert any(value is None for row in body["data"] for value in row.values())  # nulls are documented too
    assert_documented(body, schema)
