"""The simulator's Binance WebSockets: subscribe and acks, kline and markPrice pushes, the venue's limits."""

import json

import aiohttp

from apps.collectors.simulator import binance
from apps.collectors.simulator.testing import sync

SEED = 42


async def frames_until(ws, predicate, limit=500):
    for _ in range(limit):
        message = await ws.receive(timeout=3)
        assert message.type == aiohttp.WSMsgType.TEXT, message
        frame = json.loads(message.data)
        if predicate(frame):
            return frame
    raise AssertionError("no such frame")


@sync
async def test_klines_are_acked_pushed_open_then_final_and_equal_the_rest_klines(simulator):
    handle = simulator(binance_connection_seconds=30)
    async with aiohttp.ClientSession() as session, session.ws_connect(handle.binance_usdm_ws_url) as ws:
        await ws.send_str(json.dumps({"method": "SUBSCRIBE", "params": ["btcusdt@kline_1m", "btcusdt@markPrice@1s"],
                                      "id": 7}))  # fmt: skip
        assert await frames_until(ws, lambda f: "id" in f) == {"result": None, "id": 7}
        assert (await frames_until(ws, lambda f: f.get("stream") == "btcusdt@kline_1m"))["data"]["k"]["x"] is False
        final = (await frames_until(ws, lambda f: f.get("data", {}).get("k", {}).get("x") is True))["data"]["k"]
        mark = (await frames_until(ws, lambda f: f.get("stream") == "btcusdt@markPrice@1s"))["data"]

    o, h, low, c, v, n = binance.kline(binance.market_for(SEED, "usdm"), "BTC", "1m", final["t"])
    assert (final["o"], final["h"], final["l"], final["c"], final["v"], final["n"]) == (
        str(o), str(h), str(low), str(c), format(v, "f"), n
    )  # fmt: skip
    assert final["T"] == final["t"] + 59_999 and final["s"] == "BTCUSDT"
    assert mark["e"] == "markPriceUpdate" and {"p", "i", "r", "T"} <= set(mark) and mark["T"] % (8 * 3_600_000) == 0


@sync
async def test_bad_requests_get_binance_errors_and_too_many_messages_end_the_connection(simulator):
    handle = simulator()
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(handle.binance_spot_ws_url) as ws:
            await ws.send_str(json.dumps({"method": "SUBSCRIBE", "params": ["btcusdt@markPrice@1s"], "id": 1}))
            error = await frames_until(ws, lambda f: "id" in f)
            await ws.send_str(json.dumps({"method": "PLEASE", "params": [], "id": 2}))
            unknown = await frames_until(ws, lambda f: "id" in f)
        assert error["error"]["code"] == 2 and error["id"] == 1  # no funding on spot
        assert unknown["error"]["code"] == 2 and unknown["id"] == 2

        async with session.ws_connect(handle.binance_spot_ws_url) as ws:
            for i in range(6):  # spot allows 5 messages a second
                await ws.send_str(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": i}))
            while (message := await ws.receive(timeout=3)).type == aiohttp.WSMsgType.TEXT:
                pass
            assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED) and ws.close_code == 1008


@sync
async def test_connections_are_cut_at_their_maximum_age(simulator):
    handle = simulator(binance_connection_seconds=0.5)
    async with aiohttp.ClientSession() as session, session.ws_connect(handle.binance_usdm_ws_url) as ws:
        message = await ws.receive(timeout=3)
    assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED) and ws.close_code == 1001
    assert handle.state.binance_forced_closes == 1
