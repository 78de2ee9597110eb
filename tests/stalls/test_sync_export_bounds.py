"""GET /export is bounded in rows and time, and a transfer the server cuts is seen as incomplete by the client."""

import asyncio
import csv
import io
from datetime import timedelta

import aiohttp
import pytest

from apps.marketdata.export.http import TransferCut
from apps.marketdata.writer import write_candles
from tests.conftest import candle, make_key, utc
from tests.marketdata.export_data import END, START, write_rows
from tests.streaming.servers import Daphne

PATH = "/export/candles/hyperliquid/BTC/USD/perps/1m"
WINDOW = {"start_time": START.isoformat(), "end_time": END.isoformat()}


@pytest.mark.django_db
def test_a_window_over_the_row_limit_is_a_400_that_points_to_export_jobs(client, world, settings):
    write_rows(world.btc_1m.id, world.btc_pair.id, "default")
    settings.KIRBY_EXPORT_SYNC_MAX_ROWS = 3  # the window holds 4

    response = client.get(PATH, WINDOW)
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["loc"] == ["query", "end_time"]
    assert "more than 3 rows (KIRBY_EXPORT_SYNC_MAX_ROWS)" in error["msg"] and "POST /exports" in error["msg"]

    settings.KIRBY_EXPORT_SYNC_MAX_ROWS = 4
    response = client.get(PATH, WINDOW)
    assert response.status_code == 200
    body = b"".join(response.streaming_content).decode()
    assert response["X-Kirby-Rows"] == "4" == str(len(list(csv.DictReader(io.StringIO(body)))))


@pytest.mark.django_db
def test_an_open_ended_export_counts_the_rows_it_sends(client, world):
    write_rows(world.btc_1m.id, world.btc_pair.id, "default")
    response = client.get(PATH, {"start_time": START.isoformat()})
    body = b"".join(response.streaming_content).decode()
    assert int(response["X-Kirby-Rows"]) == len(list(csv.DictReader(io.StringIO(body)))) == 5


@pytest.fixture
def slow_server(tmp_path, world_committed):
    start = utc(2023, 1, 1)
    write_candles([candle(world_committed.btc_1m, start + timedelta(minutes=i)) for i in range(40_000)], publish=False)
    server = Daphne(tmp_path / "daphne.log", KIRBY_EXPORT_SYNC_MAX_SECONDS="0.001")
    yield server, make_key()
    server.stop()


@pytest.mark.asyncio
async def test_an_export_cut_at_its_time_limit_has_fewer_rows_than_announced(slow_server):
    server, key = slow_server
    await server.ready()
    async with aiohttp.ClientSession() as session:
        url = f"http://127.0.0.1:{server.port}{PATH}"
        async with session.get(url, headers={"Authorization": f"Bearer {key}"}) as response:
            assert response.status == 200
            announced = int(response.headers["X-Kirby-Rows"])
            body = await asyncio.wait_for(response.read(), 30)
    assert announced == 40_000
    assert 0 < len(list(csv.DictReader(io.StringIO(body.decode())))) < announced


@pytest.mark.django_db
def test_under_wsgi_a_cut_export_raises_mid_body_so_the_chunked_transfer_never_ends(client, settings, world):
    write_candles([candle(world.btc_1m, utc(2023, 1, 1) + timedelta(minutes=i)) for i in range(40_000)], publish=False)
    settings.KIRBY_EXPORT_SYNC_MAX_SECONDS = 0.001
    response = client.get(PATH)
    chunks = iter(response.streaming_content)
    assert next(chunks)  # the first chunk is sent, then the server gives up on the transfer
    with pytest.raises(TransferCut):
        list(chunks)
