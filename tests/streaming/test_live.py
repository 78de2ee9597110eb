"""Live pushes: a committed write through the write path reaches subscribers, shaped like REST items."""

import asyncio
import threading

import pytest
from channels.db import database_sync_to_async
from django.db import transaction

from apps.marketdata.writer import write_candles
from apps.streaming import series
from tests.conftest import candle, keyed_client
from tests.streaming.conftest import funding, minutes, open_interest, rest, write

pytestmark = pytest.mark.asyncio

NAMES = {"exchange": "hyperliquid", "coin": "BTC", "quote": "USD", "trading_pair": "BTC/USD", "market_type": "perps"}


async def subscribed(connect, ids, **options):
    connection = await connect()
    reply = await connection.request({"action": "subscribe", "starlisting_ids": ids, **options})
    assert reply["type"] == "success"
    return connection


async def test_a_committed_candle_reaches_its_subscriber_as_the_rest_item(connect, stream_world):
    w = stream_world
    connection = await subscribed(connect, [w.btc_1m.id])

    await write("candles", [candle(w.btc_1m, minutes(10), close="101.25", num_trades=None, closed=False)])
    message = await connection.receive()

    assert message == {
        "type": "candle", "starlisting_id": w.btc_1m.id, **NAMES, "interval": "1m",
        "data": {"time": "2026-11-20T00:10:00Z", "open": "100", "high": "110", "low": "90", "close": "101.25",
                 "volume": "12.5", "num_trades": None, "closed": False},
    }  # fmt: skip
    stored = await rest(keyed_client(w.key), "/candles/hyperliquid/BTC/USD/perps/1m?start_time=2026-11-20T00:10:00Z")
    assert message["data"] == stored["data"][0]


async def test_nothing_is_pushed_before_the_transaction_commits(connect, stream_world):
    w = stream_world
    connection = await subscribed(connect, [w.btc_1m.id])

    written, commit = threading.Event(), threading.Event()

    @database_sync_to_async
    def write_and_wait():
        with transaction.atomic():
            write_candles([candle(w.btc_1m, minutes(11))])
            written.set()
            assert commit.wait(10)

    writing = asyncio.ensure_future(write_and_wait())
    assert await asyncio.to_thread(written.wait, 10)
    assert await connection.nothing(0.4)  # written, not yet committed
    commit.set()
    await writing

    assert (await connection.receive())["data"]["time"] == "2026-11-20T00:11:00Z"


async def test_a_rolled_back_write_is_never_pushed(connect, stream_world):
    w = stream_world
    connection = await subscribed(connect, [w.btc_1m.id])

    @database_sync_to_async
    def write_and_fail():
        with pytest.raises(RuntimeError), transaction.atomic():
            write_candles([candle(w.btc_1m, minutes(12))])
            raise RuntimeError("the rest of the transaction failed")

    await write_and_fail()

    assert await connection.nothing(0.5)


async def test_rows_of_one_batch_arrive_in_time_order(connect, stream_world):
    w = stream_world
    connection = await subscribed(connect, [w.btc_1m.id])

    await write("candles", [candle(w.btc_1m, minutes(i)) for i in (22, 20, 21)])
    received = [(await connection.receive())["data"]["time"] for _ in range(3)]

    assert received == ["2026-11-20T00:20:00Z", "2026-11-20T00:21:00Z", "2026-11-20T00:22:00Z"]


async def test_funding_and_open_interest_go_to_every_subscribed_starlisting_of_the_pair(connect, stream_world):
    w = stream_world
    connection = await subscribed(connect, [w.btc_1h.id, w.sol_1m.id, w.btc_1m.id])

    await write("funding", [funding(w.btc_pair, minutes(500), rate="-0.00002")])
    pushed = [await connection.receive() for _ in range(2)]
    await write("open_interest", [open_interest(w.btc_pair, minutes(500))])
    pushed += [await connection.receive() for _ in range(2)]

    assert sorted((m["type"], m["starlisting_id"]) for m in pushed) == sorted(
        [
            ("funding", w.btc_1h.id),
            ("funding", w.btc_1m.id),
            ("open_interest", w.btc_1h.id),
            ("open_interest", w.btc_1m.id),
        ]
    )
    assert {k: v for k, v in pushed[0].items() if k not in ("type", "starlisting_id", "data")} == NAMES
    assert pushed[0]["data"] == {
        "time": "2026-11-20T08:20:00Z", "funding_rate": "-0.00002", "premium": "-0.0003", "mark_price": "91234.5",
        "index_price": None, "oracle_price": None, "mid_price": None, "next_funding_time": None,
    }  # fmt: skip
    assert (
        pushed[2]["data"]
        == (await rest(keyed_client(w.key), "/open-interest/hyperliquid/BTC/USD/perps?limit=1"))["data"][0]
    )
    assert await connection.nothing()


async def test_the_channels_filter_limits_live_pushes(connect, stream_world):
    w = stream_world
    connection = await subscribed(connect, [w.btc_1m.id], channels=["funding"])

    await write("candles", [candle(w.btc_1m, minutes(30))])
    await write("open_interest", [open_interest(w.btc_pair, minutes(30))])
    await write("funding", [funding(w.btc_pair, minutes(30))])

    assert (await connection.receive())["type"] == "funding"
    assert await connection.nothing()


async def test_channels_add_up_across_subscribes_and_unsubscribe_can_remove_one(connect, stream_world):
    w = stream_world
    connection = await subscribed(connect, [w.btc_1m.id], channels=["funding"])
    await connection.request({"action": "subscribe", "starlisting_ids": [w.btc_1m.id], "channels": ["candles"]})
    await connection.request({"action": "unsubscribe", "starlisting_ids": [w.btc_1m.id], "channels": ["funding"]})

    await write("funding", [funding(w.btc_pair, minutes(31))])
    await write("candles", [candle(w.btc_1m, minutes(31))])

    assert (await connection.receive())["type"] == "candle"
    assert await connection.nothing()


async def test_a_backfill_written_without_publishing_reaches_no_one(connect, stream_world):
    w = stream_world
    connection = await subscribed(connect, [w.btc_1m.id])

    await write("candles", [candle(w.btc_1m, minutes(i)) for i in range(40, 50)], publish=False)

    assert await connection.nothing(0.5)


async def test_after_unsubscribe_nothing_more_arrives(connect, stream_world):
    w = stream_world
    connection = await subscribed(connect, [w.btc_1m.id, w.sol_1m.id])
    await connection.request({"action": "unsubscribe", "starlisting_ids": [w.btc_1m.id]})

    await write("candles", [candle(w.btc_1m, minutes(60)), candle(w.sol_1m, minutes(60))])

    assert (await connection.receive())["starlisting_id"] == w.sol_1m.id
    assert await connection.nothing()


async def test_every_connection_of_a_process_gets_the_push_and_one_leaving_does_not_stop_the_others(
    connect, stream_world
):
    w = stream_world
    first, second, third = [await subscribed(connect, [w.btc_1m.id]) for _ in range(3)]
    await first.close()

    await write("candles", [candle(w.btc_1m, minutes(70))])

    assert (await second.receive())["data"]["time"] == (await third.receive())["data"]["time"]


async def test_no_live_message_for_a_starlisting_comes_before_its_history(connect, stream_world, monkeypatch):
    w = stream_world
    history_texts = series.history_texts
    loop = asyncio.get_running_loop()
    watcher = await subscribed(connect, [w.btc_1m.id])  # the hub hands a row to every subscriber at once

    def history_while_a_row_arrives(*args, **kwargs):
        write_candles([candle(w.btc_1m, minutes(80))])  # committed and published while history is read
        seen = asyncio.run_coroutine_threadsafe(watcher.receive(), loop).result(10)
        assert seen["type"] == "candle"  # so the connection reading history has been handed it too
        return history_texts(*args, **kwargs)

    monkeypatch.setattr(series, "history_texts", history_while_a_row_arrives)
    connection = await connect()

    await connection.send({"action": "subscribe", "starlisting_ids": [w.btc_1m.id], "history": 2})
    types = [(await connection.receive())["type"] for _ in range(5)]

    assert types == ["success", "historical", "historical_funding", "historical_oi", "candle"]
