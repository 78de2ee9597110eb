"""Under real Daphne: an oversized frame is refused before it is read; disconnect cleanup survives Redis failing.

The Redis is a private redis-server the test stops while a client is
connected, so the connection's cleanup meets a Redis that is gone after
some of its steps (the key's connection slot) already need it.
"""

import asyncio
import struct

import aiohttp
import pytest

from tests.conftest import make_key
from tests.faults.redis_server import private_redis
from tests.operations.scrape import scrape, value
from tests.streaming.servers import Daphne, SilentClient
from tests.waiting import wait_for

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def test_oversized_frames_are_refused_unread_and_cleanup_survives_redis_failing(world_committed, tmp_path):
    key = make_key("bot")
    with private_redis() as server:
        daphne = Daphne(tmp_path / "daphne.log", api_key=key, KIRBY_TEST_REDIS_URL=server.url)
        metrics = f"http://127.0.0.1:{daphne.port}/metrics"
        try:
            asyncio.run(daphne.ready())
            # A frame announcing 500 KB (above KIRBY_WS_MAX_FRAME_BYTES, below Daphne's own 1 MiB cap), of which
            # 1 KB is sent: the header alone ends the connection.
            client = SilentClient(daphne.port, key)
            header = struct.pack("!BBQ", 0x81, 0x80 | 127, 500_000) + b"mask"
            client.socket.sendall(header + b"x" * 1024)
            _, ended = client.drain(timeout=5)
            client.close()
            # Dropped at once (autobahn fails a connection by dropping it), not waiting for the rest.
            assert ended in ("closed", "reset"), f"the server waited for the rest of the frame ({ended})"

            async def connect_then_leave_without_redis():
                async with aiohttp.ClientSession() as session:
                    socket_ = await session.ws_connect(daphne.url, heartbeat=None)
                    await socket_.send_json({"action": "subscribe", "starlisting_ids": [world_committed.btc_1m.id]})
                    assert (await socket_.receive_json(timeout=10))["type"] == "success"
                    assert value(await asyncio.to_thread(scrape, metrics), "kirby_ws_connections") == 1
                    server.stop()
                    await socket_.close()

            asyncio.run(connect_then_leave_without_redis())
            # The slot could not be given back (it expires by itself); the rest of the cleanup still ran.
            wait_for(lambda: value(scrape(metrics), "kirby_ws_connections") == 0, 10, "the connection to be uncounted")
            assert "WebSocket cleanup: give_back_slot failed; going on" in daphne.log()
        finally:
            daphne.stop()
