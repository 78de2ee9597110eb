"""The batcher stores through the one write path, on size or time, latest version winning."""

from datetime import timedelta

import pytest

from apps.collectors.batcher import Batcher
from apps.marketdata.models import Candle
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
