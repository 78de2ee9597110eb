"""Kirby 1.x's shipped WebSocket clients against a real Daphne, as far as the reference describes them.

The reference does not hold their source. What it says of them, and what this test holds Kirby to:
- API.md: "a browser WebSocket example, a Python WebSocket test client that reads ``API_KEY``,
  ``WEBSOCKET_URL``, ``STARLISTING_IDS`` and ``HISTORY`` from the environment";
- kirby-1x.md §3.1: they connect to ``ws://<host>:8000/ws?api_key=<key>``, with no sub-protocol; the
  browser example is opened from ``file://`` and so sends ``Origin: null``, which 1.x accepted;
- §3.2 to §3.5: the frames they send (``subscribe`` with ``starlisting_ids`` and ``history``, ``ping``,
  ``unsubscribe``) and the keys of every frame they read (success, historical, historical_funding,
  historical_oi, candle, funding, open_interest, pong), decimals as strings.
"""

import asyncio
from datetime import timedelta

import aiohttp
import pytest

from tests.conftest import candle, make_key
from tests.streaming.conftest import T0, funding, open_interest, write
from tests.streaming.servers import Daphne, receive_types

pytestmark = pytest.mark.asyncio

NAMES = ("type", "starlisting_id", "exchange", "coin", "quote", "trading_pair", "market_type")
CANDLE_ITEM = {"time", "open", "high", "low", "close", "volume", "num_trades"}
FUNDING_ITEM = {"time", "funding_rate", "premium", "mark_price", "index_price", "oracle_price", "mid_price",
                "next_funding_time"}  # fmt: skip
OI_ITEM = {"time", "open_interest", "notional_value", "day_base_volume", "day_notional_volume"}


def environment_of_the_python_client(server, key, world):
    """What a user of 1.x's Python test client exports, pointed at Kirby instead."""
    return {
        "API_KEY": key,
        "WEBSOCKET_URL": f"ws://127.0.0.1:{server.port}/ws",
        "STARLISTING_IDS": f"{world.btc_1m.id},{world.btc_1h.id}",
        "HISTORY": "2",
    }


def assert_1x_shape(message, keys, item):
    """Every key 1.x sent is there (Kirby may add others); times in the Z form; decimals strings."""
    assert set(keys) <= set(message), message
    rows = message["data"] if isinstance(message["data"], list) else [message["data"]]
    for row in rows:
        assert item <= set(row), row
        assert row["time"].endswith("Z") and isinstance(row["time"], str)
        assert all(isinstance(row[k], str) for k in item - {"time", "num_trades", "next_funding_time"} if row[k])


@pytest.fixture
def bot_key(world_committed):
    return make_key("bot")  # committed: Daphne looks it up


@pytest.fixture
def daphne(tmp_path):
    server = Daphne(tmp_path / "daphne.log")
    yield server
    server.stop()


async def test_1xs_python_client_and_browser_example_subscribe_and_get_history_then_live_rows(
    daphne, world_committed, bot_key
):
    w, key = world_committed, bot_key
    await write("candles", [candle(w.btc_1m, T0 + timedelta(minutes=i)) for i in range(3)], publish=False)
    await write("funding", [funding(w.btc_pair, T0 + timedelta(hours=i)) for i in range(3)], publish=False)
    await write(
        "open_interest", [open_interest(w.btc_pair, T0 + timedelta(minutes=i)) for i in range(3)], publish=False
    )
    await daphne.ready()
    env = environment_of_the_python_client(daphne, key, w)
    ids = [int(part) for part in env["STARLISTING_IDS"].split(",")]

    async with aiohttp.ClientSession() as session:
        python_client = await session.ws_connect(f"{env['WEBSOCKET_URL']}?api_key={env['API_KEY']}", heartbeat=None)
        browser = await session.ws_connect(f"{env['WEBSOCKET_URL']}?api_key={key}", origin="null", heartbeat=None)
        await python_client.send_json({"action": "subscribe", "starlisting_ids": ids, "history": int(env["HISTORY"])})
        # A form field gives strings; 1.x coerced them.
        await browser.send_json({"action": "subscribe", "starlisting_ids": [str(w.btc_1m.id)], "history": "2"})
        python_seen = [await python_client.receive_json(timeout=10) for _ in range(4)]
        browser_seen = [await browser.receive_json(timeout=10) for _ in range(4)]

        await write("candles", [candle(w.btc_1m, T0 + timedelta(minutes=3), close="107.25")])
        await write("funding", [funding(w.btc_pair, T0 + timedelta(hours=3))])
        await write("open_interest", [open_interest(w.btc_pair, T0 + timedelta(minutes=3))])
        live = {
            "candle": (await receive_types(browser, "candle", 1))[0],
            "funding": (await receive_types(browser, "funding", 1))[0],
            "open_interest": (await receive_types(browser, "open_interest", 1))[0],
        }
        python_live = await receive_types(python_client, "candle", 1)
        await python_client.send_json({"action": "ping"})
        pong = await receive_types(python_client, "pong", 1)
        await python_client.send_json({"action": "unsubscribe", "starlisting_ids": ids})
        unsubscribed = await receive_types(python_client, "success", 1)
        await asyncio.gather(python_client.close(), browser.close())

    # The Python client: success, then per starlisting in request order its history (the 1h starlisting
    # has no candles; its pair's funding and open interest came with the 1m one, once, unlike 1.x's bug).
    assert python_seen[0] == {"type": "success", "message": "Subscribed to 2 starlisting(s)", "starlisting_ids": ids}
    assert [(m["type"], m["starlisting_id"], m["count"]) for m in python_seen[1:]] == [
        ("historical", w.btc_1m.id, 2),
        ("historical_funding", w.btc_1m.id, 2),
        ("historical_oi", w.btc_1m.id, 2),
    ]
    historical = python_seen[1]
    assert_1x_shape(historical, (*NAMES, "interval", "count", "data"), CANDLE_ITEM)
    assert [row["time"] for row in historical["data"]] == ["2026-11-20T00:01:00Z", "2026-11-20T00:02:00Z"]
    assert_1x_shape(python_seen[2], (*NAMES, "count", "data"), FUNDING_ITEM)
    assert_1x_shape(python_seen[3], (*NAMES, "count", "data"), OI_ITEM)
    # The browser example, from file://: the same, for the one starlisting it asked for.
    assert browser_seen[0]["message"] == "Subscribed to 1 starlisting(s)"
    assert [m["type"] for m in browser_seen[1:]] == ["historical", "historical_funding", "historical_oi"]
    # Live rows, each shaped as 1.x pushed it.
    assert_1x_shape(live["candle"], (*NAMES, "interval", "data"), CANDLE_ITEM)
    assert live["candle"]["data"]["close"] == "107.25" and live["candle"]["interval"] == "1m"
    assert_1x_shape(live["funding"], (*NAMES, "data"), FUNDING_ITEM)
    assert_1x_shape(live["open_interest"], (*NAMES, "data"), OI_ITEM)
    assert python_live[0]["data"]["time"] == "2026-11-20T00:03:00Z"
    assert pong[0]["timestamp"].endswith("Z")
    assert unsubscribed[0]["message"] == "Unsubscribed from 2 starlisting(s)"
