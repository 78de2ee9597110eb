"""``GET /export/...`` streams the file with its name, type and exact rows; bad parameters are 400s."""

import csv
import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.http import StreamingHttpResponse

from apps.marketdata.api.export_views import ExportView, PairExportView
from tests.marketdata.export_data import END, START, expected, write_rows
from tests.training import BOTH, TRAINING, TrainingWorld

pytestmark = pytest.mark.django_db(databases=BOTH)
WINDOW = {"start_time": START.isoformat(), "end_time": END.isoformat()}


@pytest.fixture
def rows(world):
    write_rows(world.btc_1m.id, world.btc_pair.id, "default")
    return world


def body(response):
    assert isinstance(response, StreamingHttpResponse)
    return b"".join(response.streaming_content)


def test_a_csv_export_streams_with_its_file_name_and_content_type(client, rows):
    response = client.get("/export/candles/hyperliquid/btc/usd/perps/1m", WINDOW)

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    disposition = response["Content-Disposition"]
    assert disposition.startswith('attachment; filename="candles_hyperliquid_BTC_USD_perps_1m_')
    assert disposition.endswith('.csv"')
    assert response["X-Kirby-Window"] == "[2024-05-31T23:58:00Z, 2024-06-01T00:04:00Z)"
    lines = list(csv.DictReader(io.StringIO(body(response).decode())))
    want = expected("candles", rows.btc_1m.id, rows.btc_pair.id, "default")
    assert [line["open"] for line in lines] == [format(row["open"], "f") for row in want]
    assert lines[0]["volume"] == "0"


def test_a_parquet_export_streams_a_complete_parquet_file(client, rows):
    response = client.get("/export/merged/hyperliquid/BTC/USD/perps/1m", {**WINDOW, "format": "parquet"})

    assert response.status_code == 200
    assert response["Content-Type"] == "application/vnd.apache.parquet"
    assert response["Content-Disposition"].endswith('.parquet"')
    table = pq.read_table(pa.BufferReader(body(response)))
    assert table.to_pylist() == expected("merged", rows.btc_1m.id, rows.btc_pair.id, "default")


def test_funding_and_open_interest_exports_take_no_interval(client, rows):
    funding = client.get("/export/funding/hyperliquid/BTC/USD/perps", WINDOW)
    with_interval = client.get("/export/funding/hyperliquid/BTC/USD/perps/1m", WINDOW)

    assert funding.status_code == 200
    assert len(body(funding).decode().splitlines()) == 3  # header + 2 rows
    assert with_interval.status_code == 404


def test_export_views_are_marked_for_the_read_scope():
    assert ExportView.access == "read" and PairExportView.access == "read"


@pytest.mark.parametrize(
    "path, query, bad",
    [
        ("/export/candles/hyperliquid/BTC/USD/perps/1m", {"format": "xlsx"}, ["query", "format"]),
        ("/export/candles/hyperliquid/BTC/USD/perps/1m", {"start_time": "soon"}, ["query", "start_time"]),
        (
            "/export/candles/hyperliquid/BTC/USD/perps/1m",
            {"start_time": "2025-02-01", "end_time": "2025-01-01"},
            ["query", "end_time"],
        ),  # fmt: skip
        ("/export/candles/hyperliquid/BTC/USD/perps/1m", {"format": "parquet", "numbers": "int"}, ["query", "numbers"]),
        ("/export/ticks/hyperliquid/BTC/USD/perps/1m", {}, ["path", "type"]),
        ("/export/candles/hyperliquid/BTC/USD/perps", {}, ["path", "interval"]),
    ],
)
def test_bad_parameters_are_400s_that_name_them(client, rows, path, query, bad):
    response = client.get(path, query)

    assert response.status_code == 400
    assert bad in [error["loc"] for error in response.json()["errors"]]


def test_an_unknown_series_is_a_404(client, rows):
    response = client.get("/export/candles/hyperliquid/DOGE/USD/perps/1m")

    assert response.status_code == 404
    assert response.json() == {"detail": "Starlisting not found: hyperliquid/DOGE/USD/perps/1m"}


def test_the_http_export_never_reads_the_training_database(client, db):
    training = TrainingWorld()
    write_rows(training.perp_1m.id, training.perp_pair.id, TRAINING)

    response = client.get("/export/candles/binance/BTC/USDT/perps/1m")

    assert response.status_code == 404
