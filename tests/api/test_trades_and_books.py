"""GET /trades/..., /orderbook/... and /orderbook/.../history: exact values, cursor pages, books from Redis."""

import re
import time
from datetime import timedelta

import pytest

from apps.marketdata import live_books
from apps.marketdata.records import OrderBookRecord, TradeRecord
from apps.marketdata.writer import write_orderbooks, write_trades
from tests.api.openapi import assert_documented, published, response_schema
from tests.conftest import utc

T0 = utc(2026, 11, 20, 12, 0, 0, 123000)
TRADES = "/trades/hyperliquid/BTC/USD/perps"
BOOK = "/orderbook/hyperliquid/BTC/USD/perps"
NAMES = {"exchange": "hyperliquid", "coin": "BTC", "quote": "USD", "market_type": "perps"}


@pytest.fixture
def trades(world):
    # 12 trades in one millisecond, ids crossing a power of ten (9 < 10 numerically, not as text), then 3 later.
    records = [TradeRecord(world.btc_pair.id, T0, str(i), "97000.10", "0.5", "buy") for i in range(1, 13)]
    records += [TradeRecord(world.btc_pair.id, T0 + timedelta(seconds=s), f"{100 + s}", "97001", "2", "sell")
                for s in (1, 2, 3)]  # fmt: skip
    write_trades(records)
    return world


@pytest.fixture
def live_book():
    yield
    live_books.client().delete(live_books.book_key(*NAMES.values()))


def test_trades_page_through_one_millisecond_with_the_cursor_and_nothing_twice(client, trades):
    seen, query = [], {"start_time": "2026-11-20T12:00:00Z", "end_time": "2026-11-20T12:00:03Z", "limit": 5}
    pages = 0
    while True:
        body = client.get(TRADES, query).json()
        pages += 1
        seen += [row["trade_id"] for row in body["data"]]
        if body["metadata"]["next"] is None:
            break
        query = {**query, "cursor": body["metadata"]["next"]}

    assert seen == [str(i) for i in range(1, 13)] + ["101", "102"]  # [start, end): the trade at 12:00:03 is out
    assert pages == 3
    first = client.get(TRADES, {"start_time": "2026-11-20T12:00:00Z", "limit": 1}).json()["data"][0]
    assert first == {"time": "2026-11-20T12:00:00.123000Z", "trade_id": "1", "price": "97000.10", "size": "0.5",
                     "side": "buy"}  # fmt: skip


def test_without_a_start_the_newest_trades_come_ascending(client, trades):
    body = client.get(TRADES, {"limit": 3}).json()

    assert [row["trade_id"] for row in body["data"]] == ["101", "102", "103"]
    assert body["metadata"]["next"] is None and body["metadata"]["count"] == 3


@pytest.mark.parametrize(
    "query, parameter",
    [
        ({"limit": "10001"}, "limit"),
        ({"limit": "0"}, "limit"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"start_time": "2026-11-21", "end_time": "2026-11-20"}, "end_time"),
    ],
)
def test_bad_trade_queries_are_400s_naming_the_parameter(client, trades, query, parameter):
    response = client.get(TRADES, query)

    assert response.status_code == 400
    assert [e["loc"] for e in response.json()["errors"]] == [["query", parameter]]


def test_the_current_book_comes_from_redis_without_a_database_query(
    client, world, live_book, django_assert_num_queries
):
    bids = [["97000.5", "1.25"], ["96999", "0.001"], ["96998", "4"]]
    asks = [["97001", "3"], ["97002.75", "0.1"]]
    live_books.put_book(NAMES, time_=T0, sequence=7001, bids=bids, asks=asks)
    client.get(BOOK)  # the key's first use is looked up and cached, as for every endpoint

    with django_assert_num_queries(0):
        response = client.get(BOOK, {"depth": 2})

    body = response.json()
    assert response.status_code == 200
    assert body["data"] == {"time": "2026-11-20T12:00:00.123000Z", "sequence": 7001, "bids": bids[:2], "asks": asks}
    assert body["metadata"]["in_sync"] is True and body["metadata"]["source"] == "live"
    assert 0 <= body["metadata"]["age_seconds"] < 5
    assert_documented(body, response_schema(published(client), "/orderbook/{exchange}/{coin}/{quote}/{market_type}"))


def test_a_book_out_of_sync_or_missing_is_a_503_with_the_reason(client, world, live_book):
    not_collected = client.get(BOOK)
    world.btc_pair.collect_orderbook = True
    world.btc_pair.save()
    missing = client.get(BOOK)
    live_books.mark_out_of_sync(NAMES, "sequence gap: expected pu=41, got 40; rebuilding from a snapshot")
    rebuilding = client.get(BOOK)

    assert not_collected.status_code == 404 and "collection is off" in not_collected.json()["detail"]
    assert missing.status_code == 503 and "not running" in missing.json()["detail"]
    assert rebuilding.status_code == 503
    assert "not in sync" in rebuilding.json()["detail"] and "expected pu=41" in rebuilding.json()["detail"]


def test_a_book_its_collector_stopped_publishing_is_a_503_once_older_than_the_stale_bound(
    client, world, live_book, settings
):
    settings.KIRBY_BOOK_STALE_SECONDS = 5
    live_books.put_book(NAMES, time_=T0, sequence=7001, bids=[["97000", "1"]], asks=[["97001", "1"]],
                        published_at=time.time() - 3)  # fmt: skip
    within = client.get(BOOK)
    live_books.put_book(NAMES, time_=T0, sequence=7001, bids=[["97000", "1"]], asks=[["97001", "1"]],
                        published_at=time.time() - 12)  # fmt: skip
    beyond = client.get(BOOK)

    assert within.status_code == 200 and within.json()["metadata"]["age_seconds"] >= 3
    assert beyond.status_code == 503
    detail = r"The order book of hyperliquid/BTC/USD/perps is not in sync with the venue: no update for (\d+) s: its"
    assert int(re.fullmatch(rf"{detail} collector is away", beyond.json()["detail"])[1]) >= 12


def test_stored_snapshots_at_a_time_and_as_history(client, world):
    snapshots = [
        OrderBookRecord(world.btc_pair.id, T0 + timedelta(seconds=s), 100 + s,
                        [[f"{97000 - s}", "1"], ["96000", "2"]], [[f"{97001 + s}", "3.50"]])
        for s in range(3)
    ]  # fmt: skip
    write_orderbooks(snapshots)

    at = client.get(BOOK, {"time": "2026-11-20T12:00:01.500Z", "depth": 1}).json()
    history = client.get(f"{BOOK}/history", {"start_time": "2026-11-20T12:00:01Z"}).json()
    before = client.get(BOOK, {"time": "2026-11-20T11:00:00Z"})
    too_deep = client.get(f"{BOOK}/history", {"depth": "1001"})

    assert at["data"] == {"time": "2026-11-20T12:00:01.123000Z", "sequence": 101, "bids": [["96999", "1"]],
                          "asks": [["97002", "3.50"]]}  # fmt: skip
    assert at["metadata"]["source"] == "stored"
    assert [(b["sequence"], len(b["bids"])) for b in history["data"]] == [(101, 2), (102, 2)]
    assert before.status_code == 404
    assert too_deep.status_code == 400 and too_deep.json()["errors"][0]["loc"] == ["query", "depth"]
