"""Limits hold across web processes: two real Daphne servers share one count per key in Redis."""

import asyncio
import signal
import time

import aiohttp
import pytest
from channels.db import database_sync_to_async

from apps.access.models import ApiKeyUsage
from tests.access.conftest import CANDLES
from tests.conftest import make_key
from tests.streaming.servers import Daphne, SilentClient

pytestmark = pytest.mark.asyncio


@pytest.fixture
def key(transactional_db, django_db_serialized_rollback):
    return make_key("two-servers")


@pytest.fixture
def servers(tmp_path, key):
    started = []

    async def start(count=2, **env):
        for index in range(count):
            started.append(
                Daphne(tmp_path / f"daphne-{index}.log", api_key=key, KIRBY_USAGE_FLUSH_SECONDS="0.2", **env)
            )
        return [await server.ready() for server in started]

    yield start
    for server in started:
        server.stop()


async def get(session, server, key, path=CANDLES):
    async with session.get(f"http://127.0.0.1:{server.port}{path}", headers={"Authorization": f"Bearer {key}"}) as r:
        await r.read()
        return r


async def at_window_start(session, server, key):
    """Wait out a window about to end, so 101 requests surely fall in one minute (counting one request)."""
    first = await get(session, server, key)
    reset_in = int(first.headers["X-RateLimit-Reset"]) - time.time()
    if reset_in < 20:
        await asyncio.sleep(reset_in + 1)
        return 0
    return 1


async def test_the_101st_request_in_a_minute_is_refused_whichever_server_gets_it(servers, key, world_committed):
    first, second = await servers()
    async with aiohttp.ClientSession() as session:
        sent = await at_window_start(session, first, key)
        responses = [await get(session, (first, second)[n % 2], key) for n in range(100 - sent)]
        refused = await get(session, second, key)

    assert {r.status for r in responses} == {200}
    remaining = [int(r.headers["X-RateLimit-Remaining"]) for r in responses]
    assert remaining == list(range(99 - sent, -1, -1))  # one count, whichever process answered
    assert refused.status == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.headers["X-RateLimit-Limit"] == "100" and refused.headers["X-RateLimit-Remaining"] == "0"

    @database_sync_to_async
    def recorded():
        return list(ApiKeyUsage.objects.values_list("status", flat=True))

    deadline = time.monotonic() + 10
    expected = 102 - sent  # the request that found the window, if it fell in the previous one, is kept too
    while len(statuses := await recorded()) < expected and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    assert statuses.count(200) == expected - 1 and statuses.count(429) == 1


async def close_code(socket_):
    message = await socket_.receive(timeout=5)
    assert message.type == aiohttp.WSMsgType.CLOSE, message
    return message.data, message.extra


async def once_a_slot_frees(session, url, within):
    """A connection and its answer to a ping, retried while refused 4029 until ``within`` seconds have passed."""
    deadline = time.monotonic() + within
    while True:
        socket_ = await session.ws_connect(url)
        await socket_.send_json({"action": "ping"})
        reply = await socket_.receive(timeout=5)
        if reply.type == aiohttp.WSMsgType.TEXT or time.monotonic() > deadline:
            return socket_, reply
        assert (reply.type, reply.data) == (aiohttp.WSMsgType.CLOSE, 4029), reply
        await asyncio.sleep(0.1)


async def test_the_sixth_websocket_of_a_key_is_refused_and_a_slot_frees_when_one_drops(servers, key, world_committed):
    first, second = await servers()
    async with aiohttp.ClientSession() as session:
        sockets = [await session.ws_connect((first, second)[n % 2].url) for n in range(5)]
        for socket_ in sockets:
            await socket_.send_json({"action": "ping"})
            assert (await socket_.receive_json(timeout=5))["type"] == "pong"

        sixth = await session.ws_connect(second.url)
        assert await close_code(sixth) == (4029, "Too many connections: at most 5 per API key")

        # A clean close: the client's close handshake ends before the server has cleaned up, so the slot
        # is free moments later, not necessarily at once.
        await sockets.pop(0).close()
        replacement, reply = await once_a_slot_frees(session, second.url, within=3)
        assert reply.json()["type"] == "pong"
        sockets.append(replacement)

        await sockets.pop(0).close()
        vanishing = SilentClient(first.port, key)  # takes the free slot, then vanishes without a close frame
        vanishing.close()
        another, reply = await once_a_slot_frees(session, first.url, within=10)  # the server notices, then frees it
        assert reply.json()["type"] == "pong"
        for socket_ in [*sockets, another]:
            await socket_.close()
    for server in (first, second):
        assert "WSCONNECT /ws" in server.log() and key not in server.log()  # the access log never shows the key


async def test_slots_held_by_a_killed_server_come_back_after_their_lease(servers, key, world_committed):
    first, second = await servers(KIRBY_WS_KEY_RECHECK_SECONDS="0.5")  # a lease of 6 s
    async with aiohttp.ClientSession() as session:
        held = [await session.ws_connect(first.url) for _ in range(5)]
        for socket_ in held:
            await socket_.send_json({"action": "ping"})
            await socket_.receive_json(timeout=5)
        first.process.send_signal(signal.SIGKILL)
        first.process.wait()
        killed = time.monotonic()

        refused = await session.ws_connect(second.url)
        assert (await close_code(refused))[0] == 4029
        deadline = killed + 15
        while True:  # a connection per half second until one gets a slot
            back = await session.ws_connect(second.url)
            await back.send_json({"action": "ping"})
            reply = await back.receive(timeout=5)
            if reply.type == aiohttp.WSMsgType.TEXT or time.monotonic() > deadline:
                break
            assert (reply.type, reply.data) == (aiohttp.WSMsgType.CLOSE, 4029), reply
            await asyncio.sleep(0.5)
        came_back = time.monotonic() - killed
        assert reply.json()["type"] == "pong"
        # Renewed every 0.5 s until the kill, the slots expire 5.5 to 6 s after it: not before.
        assert came_back >= 5, f"slots came back {came_back:.1f} s after the kill, before their lease ran out"
        await back.close()
