"""Frames under a real Daphne: written straight to its transport when its internals are as expected, else via ASGI send.

Which path a server uses shows in its log (once, at its first connection);
the fast path also keeps the reason of a close, which Daphne's own ASGI
close drops.
"""

import aiohttp
import pytest

from tests.conftest import candle, make_key
from tests.streaming.conftest import minutes, write
from tests.streaming.servers import Daphne, receive_types, subscribe

pytestmark = pytest.mark.asyncio

FAST = "INFO apps.streaming.daphne_fastpath WebSocket frames: daphne fast path"
FALLBACK = "WARNING apps.streaming.daphne_fastpath WebSocket frames: asgi send"


@pytest.fixture
def key(transactional_db, django_db_serialized_rollback):
    return make_key("fast path")


@pytest.fixture
def daphne(tmp_path, key):
    started = []

    async def start(**options):
        server = Daphne(tmp_path / f"daphne-{len(started)}.log", api_key=key, **options)
        started.append(server)
        return await server.ready()

    yield start
    for server in started:
        server.stop()


async def served(server, world):
    """A client's view of the stream: history, a live row, a ping, and how a keyless connection is closed."""
    async with aiohttp.ClientSession() as session:
        client = await subscribe(session, server.url, [world.btc_1m.id], history=5)
        history = await receive_types(client, "historical", 1)
        await write("candles", [candle(world.btc_1m, minutes(30), close="101.5")])
        live = await receive_types(client, "candle", 1)
        await client.send_json({"action": "ping"})
        pong = await receive_types(client, "pong", 1)
        await client.close()
        keyless = await session.ws_connect(f"ws://127.0.0.1:{server.port}/ws")
        closing = await keyless.receive(timeout=5)
    assert [m["count"] for m in history] == [5]
    assert [(m["data"]["time"], m["data"]["close"]) for m in live] == [("2026-11-20T00:30:00Z", "101.5")]
    assert len(pong) == 1
    assert closing.type == aiohttp.WSMsgType.CLOSE
    return closing.data, closing.extra


async def test_daphne_serves_frames_through_the_fast_path_and_says_so(daphne, stream_world):
    server = await daphne()

    closed = await served(server, stream_world)

    assert closed == (4001, "API key required. Provide via Authorization: Bearer <key>")
    log = server.log()
    assert log.count(FAST) == 1 and FALLBACK not in log


async def test_the_fallback_engages_when_daphne_internals_changed(daphne, stream_world):
    server = await daphne(application="tests.streaming.changed_internals:application")

    closed = await served(server, stream_world)

    assert closed[0] == 4001  # Daphne's ASGI close keeps the code only
    log = server.log()
    assert log.count(FALLBACK) == 1 and FAST not in log
    assert "missing: transport._renamed_by_an_upgrade" in log


async def test_the_fast_path_can_be_switched_off(daphne, stream_world):
    server = await daphne(KIRBY_WS_DAPHNE_FASTPATH="false")

    closed = await served(server, stream_world)

    assert closed[0] == 4001
    log = server.log()
    assert log.count(FALLBACK) == 1 and FAST not in log and "KIRBY_WS_DAPHNE_FASTPATH is off" in log
