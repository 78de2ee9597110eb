"""manage.py export --type trades|orderbook and the HTTP export: exact values in CSV and Parquet, in order."""

import csv
import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
from django.core.management import call_command

from apps.marketdata.records import OrderBookRecord, TradeRecord
from apps.marketdata.writer import write_orderbooks, write_trades
from tests.conftest import utc

T0 = utc(2026, 11, 20, 12, 0, 0, 250000)
WINDOW = ["--start-time", "2026-11-20", "--end-time", "2026-11-21"]


def test_trades_export_in_time_then_numeric_id_order_with_exact_values(world, tmp_path):
    write_trades([TradeRecord(world.btc_pair.id, T0, trade_id, "97000.10", "0.00012", "sell")
                  for trade_id in ("10", "9", "100")])  # fmt: skip

    call_command("export", "--coin", "BTC", "--type", "trades", "--format", "both", *WINDOW, "--output", str(tmp_path))

    csv_path = next(tmp_path.glob("*.csv"))
    rows = list(csv.reader(io.StringIO(csv_path.read_text())))
    table = pq.read_table(next(tmp_path.glob("*.parquet")))
    assert rows == [["time", "trade_id", "price", "size", "side"]] + [
        ["2026-11-20T12:00:00.25Z", trade_id, "97000.10", "0.00012", "sell"] for trade_id in ("9", "10", "100")
    ]
    assert table.column("trade_id").to_pylist() == ["9", "10", "100"]
    assert table.schema.field("side").type == pa.string()
    assert str(table.column("price")[0].as_py()) == "97000.100000000000000000"


def test_orderbook_exports_levels_as_exact_json_over_http(client, world):
    bids, asks = [["97000.5", "1.25"], ["96999", "0.001"]], [["97001", "3"]]
    write_orderbooks([OrderBookRecord(world.btc_pair.id, T0, 42, bids, asks)])
    window = {"start_time": "2026-11-20", "end_time": "2026-11-21"}

    response = client.get("/export/orderbook/hyperliquid/BTC/USD/perps", window)
    parquet = client.get("/export/orderbook/hyperliquid/BTC/USD/perps", {**window, "format": "parquet"})

    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [(r["sequence"], json.loads(r["bids"]), json.loads(r["asks"])) for r in rows] == [(str(42), bids, asks)]
    table = pq.read_table(io.BytesIO(b"".join(parquet.streaming_content)))
    assert json.loads(table.column("bids")[0].as_py()) == bids
