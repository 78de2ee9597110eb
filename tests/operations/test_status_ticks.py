"""/api/status and the dashboard: trades stored in the last minute and each book's sync state, from Redis only."""

import re
import time
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.marketdata import live_books, trade_counts
from apps.marketdata.records import TradeRecord
from apps.marketdata.writer import write_trades
from apps.operations.status.ticks import tick_section
from lib.redis import client as redis_client

BTC = {"exchange": "hyperliquid", "coin": "BTC", "quote": "USD", "market_type": "perps"}
BTC_PATH = "hyperliquid/BTC/USD/perps"


@pytest.fixture
def ticking(world):
    """BTC collects trades and its book, SOL trades only; no counts or books of earlier tests in Redis."""
    world.btc_pair.__class__.objects.filter(id=world.btc_pair.id).update(collect_trades=True, collect_orderbook=True)
    world.sol_pair.__class__.objects.filter(id=world.sol_pair.id).update(collect_trades=True)
    redis = redis_client()

    def clear():
        counts = [
            k for p in (world.btc_pair.id, world.sol_pair.id) for k in redis.scan_iter(f"kirby:trades:stored:{p}:*")
        ]
        if counts:
            redis.delete(*counts)
        redis.hdel(live_books.STATES_KEY, BTC_PATH.lower())
        redis.delete(live_books.book_key(*BTC.values()))

    clear()
    yield world
    clear()


def _trades(pair, ids, moment):
    return [TradeRecord(pair.id, moment, str(i), "97000.5", "0.01", "buy") for i in ids]


def _items(document):
    return {item["name"]: item for item in document["ticks"]["items"]}


def test_status_shows_trades_of_the_last_minute_and_the_book_in_sync(
    ticking, admin_api, django_capture_on_commit_callbacks
):
    world = ticking
    moment = timezone.now() - timedelta(seconds=2)
    with django_capture_on_commit_callbacks(execute=True):
        write_trades(_trades(world.btc_pair, range(3), moment))
        write_trades(_trades(world.sol_pair, range(2), moment))
        write_trades(_trades(world.btc_pair, range(3), moment))  # a replay after a reconnect: nothing new stored
    trade_counts.count_stored({world.btc_pair.id: 50}, now=time.time() - 90)  # older than a minute: not counted
    live_books.put_book(BTC, time_=moment, sequence=7, bids=[["97000", "1"]], asks=[["97001", "2"]])

    document = admin_api.get("/api/status").json()

    items = _items(document)
    btc, sol = items[BTC_PATH], items["hyperliquid/SOL/USD/perps"]
    assert (btc["trades_last_minute"], btc["book_in_sync"], btc["state"]) == (3, True, "green")
    assert btc["reason"] == "3 trades stored in the last minute; book in sync" and btc["book_age_seconds"] < 30
    assert (sol["trades_last_minute"], sol["orderbook"], sol["book_in_sync"]) == (2, False, None)
    assert document["ticks"]["state"] == "green" and not any(r.startswith("ticks") for r in document["reasons"])


def test_a_book_out_of_sync_or_stale_is_amber_on_the_status_and_the_dashboard(ticking, admin_api):
    live_books.mark_out_of_sync(BTC, "sequence gap: expected 41, got 43")

    document = admin_api.get("/api/status").json()

    btc = _items(document)[BTC_PATH]
    assert (btc["state"], btc["book_in_sync"]) == ("amber", False)
    assert btc["reason"] == "book out of sync: sequence gap: expected 41, got 43"
    assert f"ticks: {BTC_PATH}: book out of sync: sequence gap: expected 41, got 43" in document["reasons"]
    browser = Client()
    browser.force_login(get_user_model().objects.create_user("staffer", password="x", is_staff=True))
    page = browser.get("/dashboard").content.decode()
    assert f'<tr data-name="{BTC_PATH}" class="state-amber">' in page and "book out of sync: sequence gap" in page

    live_books.put_book(BTC, time_=timezone.now(), sequence=9, bids=[], asks=[], published_at=time.time() - 120)
    btc = _items(admin_api.get("/api/status").json())[BTC_PATH]
    assert (btc["state"], btc["reason"]) == ("amber", "book not refreshed for 2 min")

    redis_client().hdel(live_books.STATES_KEY, BTC_PATH.lower())
    assert _items(admin_api.get("/api/status").json())[BTC_PATH]["reason"] == "no book published"


def test_the_section_never_reads_the_tick_tables(ticking):
    write_trades(_trades(ticking.btc_pair, range(1000), timezone.now()))

    with CaptureQueriesContext(connection) as queries:
        tick_section(time.time())

    assert len(queries) == 1  # the pairs switched on; counts and books come from Redis
    tables = set(re.findall(r'(?:FROM|JOIN) "(\w+)"', queries[0]["sql"]))
    assert "trading_pairs" in tables and not tables & {"trades", "orderbook_snapshots"}


def test_metrics_give_trades_of_the_last_minute_and_books_not_in_sync_per_exchange(ticking, anonymous, settings):
    settings.KIRBY_METRICS_TOKEN = ""
    trade_counts.count_stored({ticking.btc_pair.id: 4, ticking.sol_pair.id: 3})
    live_books.mark_out_of_sync(BTC, "crossed book")

    text = anonymous.get("/metrics").content.decode()

    assert 'kirby_trades_stored_last_minute{exchange="hyperliquid"} 7.0' in text
    assert 'kirby_orderbooks_not_in_sync{exchange="hyperliquid"} 1.0' in text
