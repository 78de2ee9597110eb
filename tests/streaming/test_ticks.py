"""The ``trades`` and ``orderbook`` channels of /ws: asked for by name, batched and conflated; 1.x unchanged."""

import re
import time

import pytest
from channels.db import database_sync_to_async

from apps.marketdata import live_books
from apps.marketdata.records import TradeRecord
from apps.marketdata.writer import write_trades
from tests.conftest import keyed_client
from tests.streaming.conftest import minutes, rest

pytestmark = pytest.mark.asyncio
PAIR = ("hyperliquid", "BTC", "USD", "perps")
NAMES = dict(zip(("exchange", "coin", "quote", "market_type"), PAIR, strict=True))


@pytest.fixture
def books():
    yield
    live_books.client().delete(live_books.book_key(*PAIR))


async def subscribed(connect, ids, **options):
    connection = await connect()
    reply = await connection.request({"action": "subscribe", "starlisting_ids": ids, **options})
    assert reply["type"] == "success", reply
    return connection


def trades(world, *ids):
    return [TradeRecord(world.btc_pair.id, minutes(40), trade_id, "97000.5", "0.25", "buy") for trade_id in ids]


async def test_a_writes_trades_arrive_in_one_message_as_rest_items_and_only_when_asked_for(connect, stream_world):
    w = stream_world
    asked = await subscribed(connect, [w.btc_1m.id], channels=["trades"])
    classic = await subscribed(connect, [w.btc_1m.id])  # a 1.x client: no channels

    await database_sync_to_async(write_trades)(trades(w, "10", "9", "11"))
    message = await asked.receive()

    assert message["type"] == "trades" and message["count"] == 3 and message["starlisting_id"] == w.btc_1m.id
    assert [t["trade_id"] for t in message["data"]] == ["9", "10", "11"]
    stored = await rest(keyed_client(w.key), "/trades/hyperliquid/BTC/USD/perps?start_time=2026-11-20T00:40:00Z")
    assert message["data"] == stored["data"]
    assert await classic.nothing()


async def test_a_shuffled_batch_reaches_subscribers_by_time_then_id_as_rest_serves_it(connect, stream_world):
    w = stream_world
    asked = await subscribed(connect, [w.btc_1m.id], channels=["trades"])
    later = [TradeRecord(w.btc_pair.id, minutes(41), trade_id, "97001", "0.5", "sell") for trade_id in ("31", "30")]

    await database_sync_to_async(write_trades)([later[0], *trades(w, "22", "20", "21"), later[1]])
    message = await asked.receive()

    assert [t["trade_id"] for t in message["data"]] == ["20", "21", "22", "30", "31"]
    stored = await rest(keyed_client(w.key), "/trades/hyperliquid/BTC/USD/perps?start_time=2026-11-20T00:40:00Z")
    assert message["data"] == stored["data"]


async def test_books_are_conflated_to_the_newest_and_out_of_sync_is_said(connect, stream_world, books, settings):
    w = stream_world
    connection = await subscribed(connect, [w.btc_1m.id], channels=["orderbook"])
    classic = await subscribed(connect, [w.btc_1m.id])

    for sequence in range(1, 6):  # five books within one poll period: only the newest goes out
        live_books.put_book(NAMES, time_=minutes(41), sequence=sequence, bids=[["97000", str(sequence)]],
                            asks=[["97001", "1"]])  # fmt: skip
    first = await connection.receive()
    received_at = time.monotonic()
    live_books.mark_out_of_sync(NAMES, "sequence gap: rebuilding")
    second = await connection.receive()
    gap = time.monotonic() - received_at

    assert first["type"] == "orderbook" and first["starlisting_id"] == w.btc_1m.id
    assert first["data"] == {"in_sync": True, "time": "2026-11-20T00:41:00Z", "sequence": 5,
                             "bids": [["97000", "5"]], "asks": [["97001", "1"]]}  # fmt: skip
    assert second["data"]["in_sync"] is False and second["data"]["reason"] == "sequence gap: rebuilding"
    assert second["data"]["bids"] == []
    assert gap >= 0.5 / settings.KIRBY_WS_BOOK_HZ  # never faster than KIRBY_WS_BOOK_HZ per client
    assert await connection.nothing(0.3)  # nothing changed: nothing sent again
    assert await classic.nothing(0.01)


async def test_a_book_not_published_for_the_stale_bound_is_said_out_of_sync_once(
    connect, stream_world, books, settings
):
    w = stream_world
    settings.KIRBY_BOOK_STALE_SECONDS = 60
    live_books.put_book(NAMES, time_=minutes(41), sequence=7, bids=[["97000", "1"]], asks=[["97001", "1"]],
                        published_at=time.time() - 3)  # fmt: skip
    connection = await subscribed(connect, [w.btc_1m.id], channels=["orderbook"])
    fresh = await connection.receive()
    settings.KIRBY_BOOK_STALE_SECONDS = 2  # the same entry, now older than the bound: its collector is away
    stale = await connection.receive()
    nothing_more = await connection.nothing(0.3)  # said once, not at every poll
    live_books.put_book(NAMES, time_=minutes(41), sequence=8, bids=[["97000", "2"]], asks=[["97001", "1"]])
    back = await connection.receive()

    assert fresh["data"]["in_sync"] is True and fresh["data"]["sequence"] == 7
    assert stale["data"]["in_sync"] is False
    assert int(re.fullmatch(r"no update for (\d+) s: its collector is away", stale["data"]["reason"])[1]) >= 3
    assert stale["data"]["bids"] == stale["data"]["asks"] == []
    assert nothing_more
    assert back["data"]["in_sync"] is True and back["data"]["bids"] == [["97000", "2"]]


async def test_a_book_republished_unchanged_is_not_sent_again(connect, stream_world, books):
    w = stream_world
    live_books.put_book(NAMES, time_=minutes(41), sequence=7, bids=[["97000", "1"]], asks=[["97001", "1"]])
    connection = await subscribed(connect, [w.btc_1m.id], channels=["orderbook"])
    assert (await connection.receive())["data"]["sequence"] == 7

    live_books.put_book(NAMES, time_=minutes(41), sequence=7, bids=[["97000", "1"]], asks=[["97001", "1"]])

    assert await connection.nothing(0.3)  # the collector's keep-alive publish: nothing new for the client


async def test_a_newcomer_gets_the_current_book_and_those_who_have_it_do_not_get_it_again(connect, stream_world, books):
    w = stream_world
    live_books.put_book(NAMES, time_=minutes(41), sequence=7, bids=[["97000", "1"]], asks=[["97001", "1"]])
    first = await subscribed(connect, [w.btc_1m.id], channels=["orderbook"])
    assert (await first.receive())["data"]["sequence"] == 7

    second = await subscribed(connect, [w.btc_1m.id], channels=["orderbook"])

    assert (await second.receive())["data"]["sequence"] == 7
    assert await first.nothing(0.3)  # 1,000 followers: the 1,001st would otherwise resend the book to all


async def test_an_unknown_channel_is_refused_naming_the_choices(connect, stream_world):
    connection = await connect()
    reply = await connection.request(
        {"action": "subscribe", "starlisting_ids": [stream_world.btc_1m.id], "channels": ["book"]}
    )

    assert reply["type"] == "error" and "trades, orderbook" in reply["message"]


async def test_a_client_that_fell_behind_gets_the_newest_book_never_the_stale_ones():
    from apps.streaming.connection import StreamConnection
    from apps.streaming.outlet import Outlet
    from tests.streaming.test_outlet import Socket, settle

    socket = Socket()
    connection = StreamConnection({}, socket.send)
    connection.outlet = Outlet(socket.send, limit=100, on_overflow=lambda: None)
    socket.reading.clear()  # the client stops reading

    for sequence in range(1, 8):
        connection.offer_book(7, f"book {sequence}")
        connection.flush_books()
        await settle()
    socket.reading.set()  # it catches up
    await settle()
    connection.flush_books()
    await settle()

    assert [m["text"] for m in socket.sent] == ["book 1", "book 7"]
    await connection.outlet.stop()
