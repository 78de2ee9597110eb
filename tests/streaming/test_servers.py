"""End to end: real Daphne processes, real WebSocket clients, rows written by another process."""

import asyncio
import sys
import time

import aiohttp
import orjson
import pytest
from channels.db import database_sync_to_async
from django.conf import settings

from apps.marketdata.writer import write_candles
from tests.conftest import candle, make_key
from tests.streaming.conftest import minutes, write
from tests.streaming.servers import Daphne, SilentClient, receive_types, server_environment, subscribe

pytestmark = pytest.mark.asyncio

WRITER = """
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import django

django.setup()
from django.db import transaction

from apps.marketdata.records import CandleRecord
from apps.marketdata.writer import write_candles

starlisting_id = int(sys.argv[1])
start = datetime(2026, 11, 20, 5, 0, tzinfo=UTC)


def row(n):
    price = Decimal(100 + n)
    return CandleRecord(starlisting_id, start + timedelta(minutes=n), price, price, price, price, Decimal(1), n, True)


with transaction.atomic():
    write_candles([row(0)])
    print("written", flush=True)
    sys.stdin.readline()  # commit when told
for n in range(1, 5):
    write_candles([row(n)])
print("done", flush=True)
"""


@pytest.fixture
def unlimited_key(transactional_db, django_db_serialized_rollback):
    """These tests open a hundred connections with one key: it is exempt from the connection limit."""
    return make_key("load", unlimited=True)


@pytest.fixture
def daphnes(tmp_path, unlimited_key):
    started = []

    def start(**env):
        server = Daphne(tmp_path / f"daphne-{len(started)}.log", api_key=unlimited_key, **env)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


async def test_a_row_committed_by_another_process_reaches_clients_of_two_servers_in_order(daphnes, stream_world):
    w = stream_world
    servers = [daphnes(), daphnes()]
    await asyncio.gather(*(server.ready() for server in servers))
    writer = None
    await write("candles", [candle(w.sol_1m, minutes(i)) for i in range(1000)], publish=False)
    async with aiohttp.ClientSession() as session:
        try:
            clients = [await subscribe(session, server.url, [w.btc_1m.id]) for server in servers]
            # A browser page opened from a file (Origin: null), with history in frames of every length class.
            browser = await session.ws_connect(servers[1].url, origin="null")
            await browser.send_json(
                {"action": "subscribe", "starlisting_ids": [w.sol_1m.id, w.btc_1m.id], "history": 1000}
            )
            history = [await browser.receive_json(timeout=10) for _ in range(5)]
            clients.append(browser)
            writer = await asyncio.create_subprocess_exec(
                sys.executable, "-c", WRITER, str(w.btc_1m.id), cwd=settings.BASE_DIR, env=server_environment(),
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            )  # fmt: skip
            assert await asyncio.wait_for(writer.stdout.readline(), 30) == b"written\n"

            for client in clients:  # written, not committed: nothing yet
                with pytest.raises(asyncio.TimeoutError):
                    await receive_types(client, "candle", 1, timeout=0.5)
            writer.stdin.write(b"commit\n")
            await writer.stdin.drain()
            received = [await receive_types(client, "candle", 5) for client in clients]
            assert await asyncio.wait_for(writer.stdout.readline(), 30) == b"done\n"
        finally:
            if writer is not None and writer.returncode is None:
                writer.kill()
                await writer.wait()

    assert [(m["type"], m.get("count")) for m in history] == [
        ("success", None), ("historical", 1000), ("historical", 5), ("historical_funding", 3), ("historical_oi", 4)
    ]  # fmt: skip
    expected = [f"2026-11-20T05:0{n}:00Z" for n in range(5)]
    for messages in received:
        assert [m["data"]["time"] for m in messages] == expected
        assert [m["data"]["close"] for m in messages] == [str(100 + n) for n in range(5)]
        assert {m["starlisting_id"] for m in messages} == {w.btc_1m.id}


@database_sync_to_async
def heavy_history(world, count=1000):
    """Starlistings with ``count`` candles each (megabytes of history to ask for)."""
    heavy = [
        world.sol_1m,
        world.btc_1h,
        world.starlisting(world.sol_pair, "5m"),
        world.starlisting(world.sol_pair, "15m"),
    ]
    for series in heavy:
        write_candles([candle(series, minutes(i)) for i in range(count)], publish=False)
    return [series.id for series in heavy]


async def test_a_client_that_never_reads_is_closed_and_delays_no_one_else(daphnes, stream_world, unlimited_key):
    w = stream_world
    heavy = await heavy_history(w)
    server = await daphnes(KIRBY_WS_SEND_QUEUE="100").ready()
    updates = 150
    async with aiohttp.ClientSession() as session:
        readers = await asyncio.gather(*(subscribe(session, server.url, [w.btc_1m.id]) for _ in range(100)))
        # Asks for about 5 MB of history, more than the kernel buffers on both sides hold (about 3 MB).
        silent = SilentClient(server.port, unlimited_key)
        for _ in range(10):
            silent.send_text(
                orjson.dumps(
                    {"action": "subscribe", "starlisting_ids": [*heavy, w.btc_1m.id], "history": 1000}
                ).decode()
            )

        received = {index: [] for index in range(len(readers))}

        async def read(index, client):
            while len(received[index]) < updates:
                for message in await receive_types(client, "candle", 1):
                    received[index].append((message["data"]["num_trades"], time.monotonic()))

        reading = asyncio.gather(*(read(index, client) for index, client in enumerate(readers)))
        committed = {}
        for n in range(updates):
            await write("candles", [candle(w.btc_1m, minutes(2000 + n), num_trades=n)])
            committed[n] = time.monotonic()
            await asyncio.sleep(0.01)
        await asyncio.wait_for(reading, 20)
        ended, how = await asyncio.to_thread(silent.drain, 10)
        silent.close()
        for client in readers:
            await client.close()

    for messages in received.values():
        assert [n for n, _ in messages] == list(range(updates))
    delays = [at - committed[n] for messages in received.values() for n, at in messages]
    assert max(delays) < 1.0, f"slowest delivery took {max(delays):.3f} s"
    assert how in ("closed", "reset"), f"the silent client was not closed ({how}, {len(ended)} bytes read)"
    assert "closing slow WebSocket client" in server.log() and "more than 100 messages" in server.log()
