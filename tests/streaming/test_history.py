"""History after subscribe: per starlisting in request order, ascending, items exactly as REST serves them."""

import pytest

from tests.conftest import candle, keyed_client
from tests.streaming.conftest import minutes, rest, write

pytestmark = pytest.mark.asyncio

BTC = "hyperliquid/BTC/USD/perps"


def header(message):
    return {k: v for k, v in message.items() if k not in ("data", "count")}


async def test_history_follows_the_success_reply_per_starlisting_in_request_order(connect, stream_world):
    w = stream_world
    await write("candles", [candle(w.sol_1m, minutes(i)) for i in range(2)], publish=False)
    connection = await connect()

    await connection.send({"action": "subscribe", "starlisting_ids": [w.sol_1m.id, w.btc_1m.id], "history": 10})
    messages = [await connection.receive() for _ in range(5)]

    assert [(m["type"], m.get("starlisting_id")) for m in messages] == [
        ("success", None),
        ("historical", w.sol_1m.id),  # SOL has no funding or open interest: nothing is sent for them
        ("historical", w.btc_1m.id),
        ("historical_funding", w.btc_1m.id),
        ("historical_oi", w.btc_1m.id),
    ]
    assert await connection.nothing()


async def test_history_items_are_the_rest_items_ascending_with_the_series_names(connect, stream_world):
    w = stream_world
    client = keyed_client(w.key)
    connection = await connect()

    await connection.send({"action": "subscribe", "starlisting_ids": [w.btc_1m.id], "history": 3})
    _, candles, funding, open_interest = [await connection.receive() for _ in range(4)]

    names = {
        "exchange": "hyperliquid",
        "coin": "BTC",
        "quote": "USD",
        "trading_pair": "BTC/USD",
        "market_type": "perps",
    }
    assert header(candles) == {"type": "historical", "starlisting_id": w.btc_1m.id, **names, "interval": "1m"}
    assert header(funding) == {"type": "historical_funding", "starlisting_id": w.btc_1m.id, **names}
    assert header(open_interest) == {"type": "historical_oi", "starlisting_id": w.btc_1m.id, **names}
    assert candles["data"] == (await rest(client, f"/candles/{BTC}/1m?limit=3"))["data"]
    assert candles["count"] == 3 and candles["data"][-1]["time"] == "2026-11-20T00:04:00Z"
    assert candles["data"][0] == {
        "time": "2026-11-20T00:02:00Z", "open": "100", "high": "110", "low": "90", "close": "102",
        "volume": "12.5", "num_trades": 7, "closed": True,
    }  # fmt: skip
    assert funding["data"] == (await rest(client, f"/funding/{BTC}?limit=3"))["data"][::-1]
    assert open_interest["data"] == (await rest(client, f"/open-interest/{BTC}?limit=3"))["data"][::-1]
    assert [item["time"] for item in open_interest["data"]] == sorted(item["time"] for item in open_interest["data"])


async def test_funding_and_open_interest_history_is_sent_once_per_pair_across_intervals(connect, stream_world):
    w = stream_world
    connection = await connect()

    await connection.send({"action": "subscribe", "starlisting_ids": [w.btc_1h.id, w.btc_1m.id], "history": 5})
    messages = [await connection.receive() for _ in range(5)]

    assert [(m["type"], m.get("starlisting_id")) for m in messages] == [
        ("success", None),
        ("historical", w.btc_1h.id),
        ("historical_funding", w.btc_1h.id),
        ("historical_oi", w.btc_1h.id),
        ("historical", w.btc_1m.id),
    ]
    assert messages[1]["interval"] == "1h" and messages[4]["interval"] == "1m"
    assert await connection.nothing()


async def test_the_channels_filter_limits_the_history_sent(connect, stream_world):
    w = stream_world
    connection = await connect()

    await connection.send(
        {"action": "subscribe", "starlisting_ids": [w.btc_1m.id], "history": 5, "channels": ["open_interest"]}
    )
    messages = [await connection.receive() for _ in range(2)]

    assert [m["type"] for m in messages] == ["success", "historical_oi"]
    assert messages[1]["count"] == 4
    assert await connection.nothing()


async def test_history_of_1000_returns_the_newest_1000(connect, stream_world):
    w = stream_world
    await write("candles", [candle(w.sol_1m, minutes(i)) for i in range(1005)], publish=False)
    connection = await connect()

    await connection.send({"action": "subscribe", "starlisting_ids": [w.sol_1m.id], "history": 1000})
    _, history = [await connection.receive() for _ in range(2)]

    assert history["count"] == len(history["data"]) == 1000
    assert history["data"][0]["time"] == "2026-11-20T00:05:00Z"
    assert history["data"][-1]["time"] == "2026-11-20T16:44:00Z"
