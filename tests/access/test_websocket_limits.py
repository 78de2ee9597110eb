"""/ws limits: exempt keys have a connection cap; failed authentications count per IP like REST ones;
history is charged to the key's request budget."""

import aiohttp
import pytest
from channels.db import database_sync_to_async

from tests.conftest import keyed_client, make_key
from tests.streaming.servers import Daphne

pytestmark = pytest.mark.asyncio


@pytest.fixture
def server(tmp_path, transactional_db, django_db_serialized_rollback):
    started = Daphne(tmp_path / "daphne.log", KIRBY_WS_MAX_CONNECTIONS_PER_UNLIMITED_KEY="3")
    yield started
    started.stop()


@pytest.fixture
def exempt_keys(transactional_db, django_db_serialized_rollback):
    return {"unlimited": make_key("bot", unlimited=True), "admin": make_key("operator", scopes=["read", "admin"])}


@pytest.mark.parametrize("kind", ["unlimited", "admin"])
async def test_the_connection_past_the_cap_of_an_exempt_key_is_refused(server, exempt_keys, kind):
    key = exempt_keys[kind]
    await server.ready()
    url = f"ws://127.0.0.1:{server.port}/ws?api_key={key}"
    async with aiohttp.ClientSession() as session:
        sockets = [await session.ws_connect(url) for _ in range(3)]
        for socket_ in sockets:
            await socket_.send_json({"action": "ping"})
            assert (await socket_.receive_json(timeout=5))["type"] == "pong"
        fourth = await session.ws_connect(url)
        message = await fourth.receive(timeout=5)
        assert message.type == aiohttp.WSMsgType.CLOSE
        assert (message.data, message.extra) == (4029, "Too many connections: at most 3 per API key")
        for socket_ in sockets:
            await socket_.close()


@pytest.fixture
def strict_server(tmp_path, transactional_db, django_db_serialized_rollback):
    started = Daphne(tmp_path / "daphne.log", KIRBY_TEST_ANON_PER_MINUTE="3")
    yield started
    started.stop()


@pytest.fixture
def good_key(transactional_db, django_db_serialized_rollback):
    return make_key("good")


async def test_failed_websocket_authentications_count_per_ip_like_rest_requests(strict_server, good_key):
    good = good_key
    await strict_server.ready()
    base = f"ws://127.0.0.1:{strict_server.port}/ws?api_key="
    async with aiohttp.ClientSession() as session:
        closes = []
        for _ in range(4):
            socket_ = await session.ws_connect(base + "kirby_not-a-key")
            message = await socket_.receive(timeout=5)
            closes.append((message.data, message.extra))
        assert closes[:3] == [(4001, "Invalid API key")] * 3
        assert closes[3] == (4029, "Rate limit exceeded")
        # The REST side shares the count: the same address is over its anonymous limit there too.
        async with session.get(f"http://127.0.0.1:{strict_server.port}/candles/hyperliquid/BTC/USD/perps/1m") as rest:
            assert rest.status == 429
        # A usable key is not charged to the address.
        socket_ = await session.ws_connect(base + good)
        await socket_.send_json({"action": "ping"})
        assert (await socket_.receive_json(timeout=5))["type"] == "pong"
        await socket_.close()


async def test_history_over_ws_is_charged_to_the_keys_rest_budget(connect, stream_world):
    w = stream_world
    key = await database_sync_to_async(make_key)("budgeted", rate_limit=5)
    connection = await connect(key=key)
    # BTC 1m with every channel: candles, funding and open interest, three series: three requests.
    subscribe = {"action": "subscribe", "starlisting_ids": [w.btc_1m.id], "history": 10}
    replies = [await connection.request(subscribe)] + [await connection.receive() for _ in range(3)]
    assert [m["type"] for m in replies] == ["success", "historical", "historical_funding", "historical_oi"]

    refused = await connection.request({**subscribe, "starlisting_ids": [w.btc_1h.id]})
    assert refused["type"] == "error" and refused["code"] == "rate_limited", refused
    assert "costs 3 requests of the key's 5 per minute" in refused["message"]
    assert await connection.nothing()  # neither subscribed nor history sent
    live_only = await connection.request({"action": "subscribe", "starlisting_ids": [w.btc_1h.id]})
    assert live_only["type"] == "success"  # live data costs nothing
    response = await database_sync_to_async(keyed_client(key).get)("/candles/hyperliquid/BTC/USD/perps/1m")
    assert response.status_code == 429  # REST sees the same budget spent


async def test_with_auth_off_ws_asks_no_key_and_limits_nothing_as_rest_does(connect, stream_world, settings):
    """REST's meaning of KIRBY_AUTH_REQUIRED=false: no key asked, keys sent are ignored, no request budget."""
    settings.KIRBY_AUTH_REQUIRED = False
    settings.KIRBY_WS_MAX_CONNECTIONS_PER_KEY = 1
    settings.KIRBY_RATE_LIMIT_PER_MINUTE = 1
    w = stream_world
    anonymous = [await connect(key=None) for _ in range(2)]  # no per-key connection cap either
    with_a_bad_key = await connect(key="kb_not-a-key")  # ignored, as REST ignores it
    subscribe = {"action": "subscribe", "starlisting_ids": [w.btc_1m.id], "history": 10}
    for connection in [*anonymous, with_a_bad_key]:
        replies = [await connection.request(subscribe)] + [await connection.receive() for _ in range(3)]
        assert [m["type"] for m in replies] == ["success", "historical", "historical_funding", "historical_oi"]
    rest = keyed_client("kb_not-a-key")
    for _ in range(2):
        response = await database_sync_to_async(rest.get)("/candles/hyperliquid/BTC/USD/perps/1m")
        assert response.status_code == 200
    # /ws has nothing admin-scoped; the admin API keeps requiring an admin key (tests/hardening).
