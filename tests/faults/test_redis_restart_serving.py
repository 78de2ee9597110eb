"""Redis restarted empty under Daphne and a collector: WebSocket clients and rate limits recover by themselves."""

import asyncio
import time
import urllib.error
import urllib.request
from datetime import datetime

import aiohttp
import pytest

from tests.collectors.harness import processes_running, simulator_running
from tests.conftest import make_key
from tests.faults.redis_server import private_redis
from tests.faults.test_database_outage import logs_on_failure
from tests.streaming.servers import Daphne, receive_types, subscribe

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


AFTER = 6  # virtual minutes: the stop, 3 s without Redis and the restart take less


def minutes_between(earlier, later):
    parse = datetime.fromisoformat
    return (parse(later) - parse(earlier)).total_seconds() / 60


def status_of(url, key):
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


async def live_candle(session, url, starlisting_id, timeout=30):
    socket_ = await subscribe(session, url, [starlisting_id])
    try:
        return await receive_types(socket_, "candle", 1, timeout=timeout)
    finally:
        await socket_.close()


def test_websocket_clients_and_rate_limits_recover_from_a_redis_restart(world_committed, tmp_path):
    world = world_committed
    key = make_key("bot", rate_limit=3)
    with private_redis() as server, simulator_running() as simulator:
        env = {"KIRBY_TEST_REDIS_URL": server.url}
        with processes_running(simulator, tmp_path, **env) as processes, logs_on_failure(processes):
            processes.worker("w1")
            processes.beat()
            daphne = Daphne(tmp_path / "daphne.log", api_key=key, **env)
            candles = f"http://127.0.0.1:{daphne.port}/candles/hyperliquid/BTC/USD/perps/1m"
            try:

                async def scenario():
                    await daphne.ready()
                    async with aiohttp.ClientSession() as session:
                        before = await subscribe(session, daphne.url, [world.btc_1m.id])
                        seen = (await receive_types(before, "candle", 1, timeout=30))[0]["data"]["time"]
                        server.stop()
                        during = await asyncio.to_thread(status_of, candles, key)
                        await asyncio.sleep(3)
                        server.start()
                        # A client connected across the restart gets rows written after it without
                        # reconnecting: candle times run a minute per second, so one AFTER minutes past
                        # the last seen before the stop was published after the restart.
                        deadline = time.monotonic() + 30
                        while True:
                            (message,) = await receive_types(before, "candle", 1, timeout=30)
                            if minutes_between(seen, message["data"]["time"]) >= AFTER:
                                break
                            assert time.monotonic() < deadline, f"no candle after the restart; last {message}"
                        fresh = await live_candle(session, daphne.url, world.btc_1m.id)
                        return seen, message, fresh, during

                seen, kept, fresh, during = asyncio.run(scenario())
                assert minutes_between(seen, kept["data"]["time"]) >= AFTER
                assert fresh[0]["starlisting_id"] == world.btc_1m.id
                assert during != 500
                # The key's budget is counted again from the restart (3 a minute), not failing open or closed.
                time.sleep(1)
                statuses = [status_of(candles, key) for _ in range(4)]
                assert statuses[:3] == [200, 200, 200] and statuses[3] == 429, statuses
            finally:
                daphne.stop()
