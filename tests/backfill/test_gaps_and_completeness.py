"""The periodic gap scan (interval-aware), the ledger, repairs, and completeness in /health."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.backfill.completeness import completeness
from apps.backfill.detect import find_holes
from apps.backfill.gap_repairs import queue_repairs, repair_open_gaps
from apps.backfill.models import Gap
from apps.backfill.runner import run_job
from apps.collectors.simulator.market import Market
from apps.marketdata.records import CandleRecord, OpenInterestRecord
from apps.marketdata.writer import write_candles, write_open_interest
from apps.operations.samples import take_sample
from tests.backfill.conftest import MINUTE, SEED, START, at
from tests.conftest import candle, utc

pytestmark = pytest.mark.django_db

MIN = timedelta(minutes=1)


def ms(moment):
    return int(moment.timestamp() * 1000)


def later(seconds=200):
    """A scan time by which rows stored just now have settled (KIRBY_GAP_SETTLE_SECONDS is 120)."""
    return timezone.now() + timedelta(seconds=seconds)


def test_a_hole_among_closed_candles_is_recorded_once_it_has_settled(world):
    t0 = (timezone.now() + timedelta(days=1)).replace(second=0, microsecond=0)
    write_candles([candle(world.btc_1m, t0 + i * MIN) for i in range(10) if i not in (4, 5)])

    assert find_holes(now=timezone.now()) == []  # the candle after the hole was stored just now
    found = find_holes(now=later())
    again = find_holes(now=later())

    [gap] = found
    assert (gap.data_type, gap.starlisting_id, gap.start_time, gap.end_time) == (
        "candles", world.btc_1m.id, t0 + 4 * MIN, t0 + 6 * MIN)  # fmt: skip
    assert (gap.missing, gap.reason, gap.status) == (2, "downtime", "open")
    assert again == [] and Gap.objects.count() == 1


def test_a_daily_candle_is_not_missing_before_its_day_has_ended(world):
    daily = world.starlisting(world.btc_pair, "1d")
    day = utc(2025, 3, 20)
    write_candles([candle(daily, day - timedelta(days=d)) for d in (3, 2, 1)])

    assert find_holes(now=day + timedelta(hours=13)) == []
    found = find_holes(now=day + timedelta(days=1, seconds=121))

    assert [(g.start_time, g.end_time, g.missing) for g in found] == [(day, day + timedelta(days=1), 1)]


def test_open_interest_holes_are_unrecoverable_and_a_few_quiet_minutes_are_not_holes(world):
    t0 = (timezone.now() + timedelta(days=1)).replace(second=0, microsecond=0)
    minutes = [m for m in range(40) if not 5 <= m < 7 and not 20 <= m < 30]
    write_open_interest([OpenInterestRecord(world.sol_pair.id, t0 + m * MIN, Decimal("10")) for m in minutes])

    found = find_holes(now=later())

    assert [(g.data_type, g.start_time, g.end_time, g.missing, g.status) for g in found] == [
        ("open_interest", t0 + 20 * MIN, t0 + 30 * MIN, 10, "unrecoverable")
    ]
    assert "no open-interest history" in found[0].detail


def test_a_found_gap_is_repaired_from_the_exchange_and_completeness_is_whole_again(world, exchange, settings):
    exchange(page_limit=7)
    settings.KIRBY_GAP_LOOKBACK_HOURS = 24 * 3650
    start = START - START % MINUTE - 120 * MINUTE
    truth = Market(SEED).candles("BTC", "1m", start, start + 40 * MINUTE)
    write_candles([CandleRecord(world.btc_1m.id, at(c.open_time), c.open, c.high, c.low, c.close, c.volume,
                                c.trades, True) for i, c in enumerate(truth) if not 10 <= i < 25])  # fmt: skip
    before = completeness(world.btc_1m.id, "1m", start, start + 40 * MINUTE)

    found = find_holes(now=later())  # the hole, minutes without trades, and everything since (no collector)
    queued = queue_repairs(found)
    for job in queued:
        run_job(job.id)

    deleted = (at(truth[10].open_time), at(truth[25].open_time))
    [gap] = [g for g in found if g.start_time <= deleted[0] and g.end_time >= deleted[1]]
    gap.refresh_from_db()
    after = completeness(world.btc_1m.id, "1m", start, start + 40 * MINUTE)
    assert gap.status == "repaired" and gap.repaired_at is not None and gap.job in queued
    assert len(queued) == len(found) and not Gap.objects.filter(status="open").exists()
    assert before["ratio"] < 1 and after["ratio"] == 1.0
    assert after["present"] == len(truth) and after["expected"] == len(truth)
    assert after["exchange_empty"] == 40 - len(truth)  # minutes without trades: nothing to store


def test_open_gaps_of_data_without_history_are_not_sent_for_repair(world, settings):
    settings.KIRBY_GAP_SETTLE_SECONDS = 0
    gap = Gap.objects.create(data_type="open_interest", trading_pair=world.btc_pair, missing=4, reason="downtime",
                             start_time=utc(2025, 3, 1), end_time=utc(2025, 3, 1, 0, 4))  # fmt: skip

    assert repair_open_gaps() == []
    gap.refresh_from_db()
    assert gap.status == "unrecoverable"


def test_health_reports_each_starlistings_completeness(client, world):
    t0 = (timezone.now() - timedelta(hours=2)).replace(second=0, microsecond=0)
    write_candles([candle(world.btc_1m, t0 + i * MIN) for i in range(60) if i != 30])
    write_candles([candle(world.btc_1m, t0 + 60 * MIN, closed=False)])
    take_sample(force=True)  # what beat's status sampler does every KIRBY_STATUS_SAMPLE_SECONDS

    body = client.get("/health").json()["completeness"]

    btc = body["hyperliquid/BTC/USD/perps/1m"]
    assert btc["starlisting_id"] == world.btc_1m.id and btc["window_start"] == t0.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert btc["present"] == 59 and btc["expected"] >= 60 and btc["ratio"] == round(59 / btc["expected"], 6)
    assert body["hyperliquid/SOL/USD/perps/1m"]["ratio"] is None


def test_health_costs_the_same_queries_however_many_starlistings_there_are(client, world, django_assert_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    write_candles([candle(s, utc(2026, 11, 20, 0, 0)) for s in (world.btc_1m, world.btc_1h, world.sol_1m)])
    take_sample(force=True)
    with CaptureQueriesContext(connection) as few:
        client.get("/health")
    more = [world.starlisting(world.sol_pair, name) for name in ("5m", "15m", "4h", "1d")]
    write_candles([candle(s, utc(2026, 11, 20, 0, 0)) for s in more])
    take_sample(force=True)
    with django_assert_num_queries(len(few)):
        assert client.get("/health").status_code == 200
