"""The batcher stores through the one write path, on size or time, latest version winning, and survives its bugs."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import close_old_connections
from prometheus_client import REGISTRY

from apps.collectors import batcher as batcher_module
from apps.collectors import spool
from apps.collectors.batcher import Batcher
from apps.marketdata.models import Candle, Trade
from apps.marketdata.records import CandleRecord, TradeRecord
from lib.redis import client
from tests.conftest import candle, utc
from tests.waiting import wait_for

T0 = utc(2026, 11, 20, 12, 0)


@pytest.fixture
def batcher(world_committed):
    results = []
    batcher = Batcher(flush_seconds=0.1, batch_size=1000, on_written=lambda kind, result: results.append(result))
    batcher.results = results
    yield batcher
    batcher.close()


def test_records_are_stored_within_the_flush_period(world_committed, batcher):
    batcher.add(candle(world_committed.btc_1m, T0))

    wait_for(lambda: Candle.objects.count() == 1, 5, "the flush period to store the candle", interval=0.02)
    assert batcher.flush_now(timeout=5)
    assert Candle.objects.count() == 1


def test_the_latest_version_of_a_row_in_the_buffer_wins(world_committed, batcher):
    for close in ("101", "102", "103"):
        batcher.add(candle(world_committed.btc_1m, T0, close=close, closed=False))

    assert batcher.flush_now(timeout=5)

    assert str(Candle.objects.get().close) == "103"
    assert sum(r.received for r in batcher.results) == 1


def test_close_stores_what_is_buffered(world_committed):
    batcher = Batcher(flush_seconds=60, batch_size=10_000)
    for minute in range(50):
        batcher.add(candle(world_committed.btc_1m, T0 + timedelta(minutes=minute)))

    batcher.close()

    assert Candle.objects.count() == 50


def test_a_full_batch_is_stored_without_waiting_for_the_period(world_committed):
    batcher = Batcher(flush_seconds=60, batch_size=10)
    try:
        for minute in range(10):
            batcher.add(candle(world_committed.btc_1m, T0 + timedelta(minutes=minute)))
        # Well within the 60 s period, and without flush_now's nudge.
        wait_for(lambda: Candle.objects.count() == 10, 5, "the full batch to be stored", interval=0.02)
        assert batcher.flush_now(timeout=5)
        assert Candle.objects.count() == 10
    finally:
        batcher.close()


def restarts():
    return REGISTRY.get_sample_value("kirby_batcher_flusher_restarts_total", {"exchange": "guarded"}) or 0


def test_an_unexpected_error_restarts_the_flusher_without_losing_records(world_committed, monkeypatch):
    failures = []

    def fails_once():
        if not failures:
            failures.append(1)
            raise RuntimeError("a bug in the flusher")
        close_old_connections()

    monkeypatch.setattr(batcher_module, "close_old_connections", fails_once)
    before = restarts()
    batcher = Batcher(flush_seconds=0.05, batch_size=1000, exchange="guarded", spool=False)
    try:
        batcher.add(candle(world_committed.btc_1m, T0))
        wait_for(lambda: Candle.objects.count() == 1, 10, "the record taken before the error to be stored")
        assert failures and restarts() == before + 1
        batcher.add(candle(world_committed.btc_1m, T0 + timedelta(minutes=1)))
        wait_for(lambda: Candle.objects.count() == 2, 10, "the restarted flusher to store new records")
    finally:
        batcher.flush_seconds = 60
        batcher.add(candle(world_committed.btc_1m, T0 + timedelta(minutes=2)))
        batcher.close()
    # Shutdown still did the final flush.
    assert Candle.objects.count() == 3


def test_spooled_batches_are_replayed_in_order_without_duplicates(world_committed):
    client().delete(spool.key(CandleRecord))
    older = [candle(world_committed.btc_1m, T0 + timedelta(minutes=m), close="101", closed=False) for m in range(3)]
    newer = [candle(world_committed.btc_1m, T0 + timedelta(minutes=m), close="102") for m in range(2)]
    # As a worker killed during an outage leaves them: two batches, the second newer.
    assert spool.keep(CandleRecord, older) and spool.keep(CandleRecord, newer)
    assert spool.keep(CandleRecord, newer)  # a replay cut short repeats a batch

    batcher = Batcher(flush_seconds=0.05, batch_size=1000)
    try:
        batcher.add(candle(world_committed.btc_1m, T0 + timedelta(minutes=3), close="103"))
        assert batcher.flush_now(timeout=10)
    finally:
        batcher.close()

    stored = list(Candle.objects.order_by("time").values_list("close", "closed"))
    assert [(str(c), closed) for c, closed in stored] == [("102", True), ("102", True), ("101", False), ("103", True)]
    assert spool.waiting(CandleRecord) == 0


def test_a_spooled_entry_that_cannot_be_stored_is_moved_aside_and_blocks_nothing(world_committed):
    redis = client()
    redis.delete(spool.key(CandleRecord), spool.key(CandleRecord) + ":failed")
    redis.xadd(spool.key(CandleRecord), {"records": "[[1, not json"})
    assert spool.keep(CandleRecord, [candle(world_committed.btc_1m, T0)])

    batcher = Batcher(flush_seconds=0.05, batch_size=1000)
    try:
        batcher.add(candle(world_committed.btc_1m, T0 + timedelta(minutes=1)))
        assert batcher.flush_now(timeout=10)
    finally:
        batcher.close()

    assert Candle.objects.count() == 2
    ((_, fields),) = redis.xrange(spool.key(CandleRecord) + ":failed")
    assert fields[b"records"] == b"[[1, not json" and b"Expecting value" in fields[b"error"]


def test_a_batch_goes_to_the_spool_at_once_when_no_connection_comes(world_committed, settings):
    """Not after the pool's whole timeout: a worker killed meanwhile would lose what it held."""
    from django.db import connection
    from psycopg_pool import PoolTimeout

    from apps.marketdata.models import FundingRate
    from apps.marketdata.records import FundingRecord

    settings.KIRBY_COLLECTOR_CONNECT_SECONDS = 0.2
    client().delete(spool.key(FundingRecord))
    pool = connection.pool
    pool.open()
    held = []
    try:  # as a database that refuses connections leaves the pool: none to be had
        while True:
            held.append(pool.getconn(timeout=0.2))
    except PoolTimeout:
        pass
    batcher = Batcher(flush_seconds=0.05, batch_size=1000)
    try:
        batcher.add(FundingRecord(world_committed.btc_pair.id, T0, Decimal("0.0001"), *[None] * 6))
        wait_for(lambda: spool.waiting(FundingRecord) == 1, 3, "the batch to be spooled", interval=0.05)
    finally:
        for raw in held:
            pool.putconn(raw)
    try:
        assert batcher.flush_now(timeout=10)
    finally:
        batcher.close()
    assert FundingRate.objects.count() == 1


def test_trades_sharing_a_time_all_survive_a_flusher_restart(world_committed, monkeypatch):
    failures = []

    def fails_once():
        if not failures:
            failures.append(1)
            raise RuntimeError("a bug in the flusher")
        close_old_connections()

    monkeypatch.setattr(batcher_module, "close_old_connections", fails_once)
    pair_id = world_committed.btc_1m.trading_pair_id
    batcher = Batcher(flush_seconds=60, batch_size=1000, exchange="guarded", spool=False)
    try:
        for trade_id in ("7", "8", "9"):  # one taker order's fills: one time, three ids
            batcher.add(TradeRecord(pair_id, T0, trade_id, Decimal("100"), Decimal("0.5"), "buy"))
        batcher.flush_now(timeout=0.5)  # the first flush fails after taking the batch: it goes back to the buffer
        wait_for(lambda: failures, 5, "the failing flush")
        assert batcher.flush_now(timeout=10)
    finally:
        batcher.close()
    assert sorted(Trade.objects.values_list("trade_id", flat=True)) == ["7", "8", "9"]
