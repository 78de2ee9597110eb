"""The HTTP export through a real Daphne process (make run serves HTTP with Daphne): the same bytes as WSGI."""

import asyncio
import csv
import io

import aiohttp
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import make_key
from tests.marketdata.export_data import END, START, expected, write_rows
from tests.streaming.servers import Daphne

pytestmark = pytest.mark.asyncio
WINDOW = {"start_time": START.isoformat(), "end_time": END.isoformat()}


@pytest.fixture
def served(tmp_path, world_committed):
    ids = world_committed.btc_1m.id, world_committed.btc_pair.id
    write_rows(*ids, "default")
    want = {kind: expected(kind, *ids, "default") for kind in ("candles", "merged")}
    server = Daphne(tmp_path / "daphne.log")
    yield server, make_key(), want
    server.stop()


async def download(server, key, path, **params):
    async with aiohttp.ClientSession() as session:
        url = f"http://127.0.0.1:{server.port}{path}"
        async with session.get(url, params=params, headers={"Authorization": f"Bearer {key}"}) as response:
            assert response.status == 200, await response.text()
            return response.headers, await response.read()


async def test_csv_and_parquet_exports_stream_whole_from_daphne(served):
    server, key, want = served
    await server.ready()

    (csv_headers, csv_body), (_, parquet_body) = await asyncio.gather(
        download(server, key, "/export/candles/hyperliquid/BTC/USD/perps/1m", **WINDOW),
        download(server, key, "/export/merged/hyperliquid/BTC/USD/perps/1m", **WINDOW, format="parquet"),
    )

    assert csv_headers["Content-Type"] == "text/csv; charset=utf-8"
    lines = list(csv.DictReader(io.StringIO(csv_body.decode())))
    assert [line["open"] for line in lines] == [format(row["open"], "f") for row in want["candles"]]
    assert pq.read_table(pa.BufferReader(parquet_body)).to_pylist() == want["merged"]
