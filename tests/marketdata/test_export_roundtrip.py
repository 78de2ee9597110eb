"""Exports read back with pyarrow and csv match the database row by row, exactly, on both databases."""

import csv
import json
from datetime import UTC, datetime
from decimal import Decimal

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.core.management import call_command

from tests.marketdata.export_data import END, START, expected, write_rows
from tests.training import BOTH, TRAINING, TrainingWorld

pytestmark = pytest.mark.django_db(databases=BOTH)
TYPES = ("candles", "funding", "open_interest", "merged")
TIME_COLUMNS = {"time", "next_funding_time"}


@pytest.fixture(params=["production", "training"])
def market(request, world):
    """(database option, exchange, quote, starlisting, trading pair) with the export rows written."""
    if request.param == "production":
        starlisting, pair, using, quote = world.btc_1m, world.btc_pair, "default", "USD"
    else:
        training = TrainingWorld()
        starlisting, pair, using, quote = training.perp_1m, training.perp_pair, TRAINING, "USDT"
    write_rows(starlisting.id, pair.id, using)
    exchange = "hyperliquid" if using == "default" else "binance"
    return request.param, exchange, quote, starlisting.id, pair.id, using


def export(tmp_path, database, export_type, fmt, *extra):
    call_command(
        "export", "--coin", "btc", "--type", export_type, "--format", fmt, "--intervals", "1m",
        "--start-time", START.isoformat(), "--end-time", END.isoformat(),
        "--database", database, "--market-type", "perps", "--output", str(tmp_path), *extra,
    )  # fmt: skip
    return sorted(p for p in tmp_path.iterdir() if not p.name.endswith(".json"))


def from_csv(text, column):
    if text == "":
        return None
    if column in TIME_COLUMNS:
        assert text.endswith("Z")
        return datetime.fromisoformat(text)
    if column == "closed":
        return {"true": True, "false": False}[text]
    if column == "num_trades":
        return int(text)
    assert "E" not in text and "e" not in text  # plain notation, never 1E-8
    return Decimal(text)


@pytest.mark.parametrize("export_type", TYPES)
def test_csv_exports_read_back_exactly(tmp_path, market, export_type):
    database, exchange, quote, starlisting_id, pair_id, using = market

    [path] = export(tmp_path, database, export_type, "csv")

    with path.open(newline="") as handle:
        rows = [{k: from_csv(v, k) for k, v in row.items()} for row in csv.DictReader(handle)]
    want = expected(export_type, starlisting_id, pair_id, using)
    assert rows == want
    assert len(rows) == {"candles": 4, "funding": 2, "open_interest": 2, "merged": 4}[export_type]
    assert all(row["time"].tzinfo is not None and row["time"].utcoffset().total_seconds() == 0 for row in rows)


@pytest.mark.parametrize("export_type", TYPES)
def test_parquet_exports_read_back_exactly_with_utc_timestamps(tmp_path, market, export_type):
    database, exchange, quote, starlisting_id, pair_id, using = market

    [path] = export(tmp_path, database, export_type, "parquet")

    table = pq.read_table(path)
    assert table.schema.field("time").type == pa.timestamp("us", tz="UTC")
    assert table.to_pylist() == expected(export_type, starlisting_id, pair_id, using)
    assert pq.ParquetFile(path).metadata.row_group(0).column(0).compression == "ZSTD"


def test_zero_stays_zero_and_null_stays_null(tmp_path, market):
    database = market[0]

    [csv_path, parquet_path] = export(tmp_path, database, "funding", "both")

    with csv_path.open(newline="") as handle:
        second = list(csv.DictReader(handle))[0]
    assert second["funding_rate"] == "0" and second["premium"] == ""
    row = pq.read_table(parquet_path).to_pylist()[0]
    assert row["funding_rate"] == 0 and row["funding_rate"] is not None and row["premium"] is None


def test_parquet_can_carry_float64_numbers_and_the_sidecar_says_so(tmp_path, market):
    database, exchange, quote, starlisting_id, pair_id, using = market

    [path] = export(tmp_path, database, "candles", "parquet", "--parquet-numbers", "float64")

    table = pq.read_table(path)
    assert table.schema.field("open").type == pa.float64()
    want = expected("candles", starlisting_id, pair_id, using)
    assert [row["volume"] for row in table.to_pylist()] == [float(row["volume"]) for row in want]
    sidecar = json.loads(path.with_name(path.name + ".json").read_text())
    assert sidecar["numbers"] == "float64, nearest double"


def test_each_format_gets_its_own_sidecar_named_after_its_file(tmp_path, market):
    database, exchange, quote, *_ = market

    paths = export(tmp_path, database, "candles", "both")

    assert [p.suffix for p in paths] == [".csv", ".parquet"]
    stamp = paths[0].stem.rsplit("_", 2)
    assert paths[0].stem == f"candles_{exchange}_BTC_{quote}_perps_1m_{stamp[1]}_{stamp[2]}"
    assert datetime.strptime(f"{stamp[1]}_{stamp[2]}", "%Y%m%d_%H%M%S")
    for path in paths:
        sidecar = json.loads(path.with_name(path.name + ".json").read_text())
        assert sidecar["file"] == path.name and sidecar["format"] == path.suffix[1:]
        assert sidecar["row_count"] == 4 and sidecar["file_size"] == path.stat().st_size
        first, last = "2024-05-31T23:58:00Z", "2024-06-01T00:03:00Z"
        assert sidecar["time_range"] == {"first": first, "last": last, "start": first, "end": last}
        # Kirby 1.x's sidecar keys too (kirby-1x.md §6.2)
        assert (sidecar["data_type"], sidecar["trading_pair"], sidecar["interval"]) == ("candles", f"BTC/{quote}", "1m")
        assert sidecar["file_size_bytes"] == path.stat().st_size and sidecar["null_strategy"] == "preserve"
        assert {"export_timestamp", "exchange", "coin", "quote", "market_type"} <= set(sidecar)
        assert sidecar["query"]["start_time"] == "2024-05-31T23:58:00Z" and sidecar["query"]["database"] == database
        assert sidecar["query"]["window"].startswith("[start_time, end_time)")
        assert [c["name"] for c in sidecar["columns"]][:3] == ["time", "open", "high"]
    parquet_sidecar = json.loads(paths[1].with_name(paths[1].name + ".json").read_text())
    assert parquet_sidecar["numbers"] == "decimal128(38, 18), exact" and parquet_sidecar["compression"] == "zstd"


def test_funding_and_open_interest_files_carry_no_interval(tmp_path, market):
    database, exchange, quote, *_ = market

    [path] = export(tmp_path, database, "open_interest", "csv")

    assert path.name.startswith(f"open_interest_{exchange}_BTC_{quote}_perps_2")


def test_an_empty_window_gives_files_with_only_the_header(tmp_path, market):
    database = market[0]
    start = datetime(2001, 1, 1, tzinfo=UTC)

    call_command("export", "--coin", "BTC", "--intervals", "1m", "--format", "both", "--database", database,
                 "--market-type", "perps", "--start-time", start.isoformat(), "--end-time", "2001-01-02",
                 "--output", str(tmp_path))  # fmt: skip

    csv_path, parquet_path = sorted(p for p in tmp_path.iterdir() if not p.name.endswith(".json"))
    assert csv_path.read_text() == "time,open,high,low,close,volume,num_trades,closed\n"
    assert pq.read_table(parquet_path).num_rows == 0
