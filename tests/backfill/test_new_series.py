"""A starlisting added by syncing the config gets its history without anyone asking."""

import time

import pytest

from apps.backfill.models import BackfillJob
from apps.markets.config import load_config
from apps.markets.models import Interval, Starlisting
from apps.markets.sync import sync_config
from lib.redis import client as redis_client
from tests.backfill.conftest import MINUTE, stored, truth
from tests.collectors.harness import Processes, start_simulator, wait_for

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

CONFIG = """
exchanges: [{name: hyperliquid, display_name: Hyperliquid, active: true}]
coins: [{symbol: BTC, name: Bitcoin, active: true}]
quote_currencies: [{symbol: USD, name: US Dollar, active: true}]
market_types: [{name: perps, display_name: Perpetuals, active: true}]
starlistings:
  - {exchange: hyperliquid, coin: BTC, quote: USD, market_type: perps, intervals: [1m], active: true}
"""


@pytest.fixture
def exchange_now():
    """A simulator at real speed whose clock is the wall clock: its history ends now, like the exchange's.

    (The simulator's default start is now floored to the minute; up to a
    minute behind, it would serve a candle still open as if it had closed.)
    """
    handle = start_simulator(speed=1, page_limit=500, start_ms=int(time.time() * 1000))
    yield handle
    handle.stop()


def test_a_newly_synced_starlisting_gets_its_history_without_anyone_asking(
    transactional_db, django_db_serialized_rollback, exchange_now, settings, tmp_path
):
    settings.KIRBY_BACKFILL_DAYS = 1
    redis_client().flushdb()
    processes = Processes(exchange_now, tmp_path)
    processes.worker(queues="backfill")
    path = tmp_path / "starlistings.yaml"
    path.write_text(CONFIG)
    try:
        sync_config(load_config(path, Interval.objects.values_list("name", flat=True)))
        starlisting = Starlisting.objects.get()
        jobs = wait_for(
            lambda: (found := list(BackfillJob.objects.filter(source="new_series")))
            and all(job.status == "succeeded" for job in found) and found,
            60, "the automatic backfill jobs",
        )  # fmt: skip
    finally:
        processes.stop_all()

    assert sorted(job.data_type for job in jobs) == ["candles", "funding"]
    candles = next(job for job in jobs if job.data_type == "candles")
    start_ms = int(candles.start_time.timestamp() * 1000)
    end_ms = int(candles.end_time.timestamp() * 1000)
    held = stored(starlisting)
    assert len(held) > 1300  # a day of minutes, a few without trades
    assert held == truth("BTC", "1m", start_ms, max(held).timestamp() * 1000 + 1)
    # Every candle closed before the job's end (less the clock margin) is final and there (quiet minutes have none).
    final_by = end_ms - settings.KIRBY_BACKFILL_CLOCK_MARGIN_SECONDS * 1000
    cut = final_by - final_by % MINUTE
    assert {t: row for t, row in held.items() if t.timestamp() * 1000 < cut} == truth("BTC", "1m", start_ms, cut)
    assert candles.rows_written == len(held) and time.time() * 1000 > end_ms
