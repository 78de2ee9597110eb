"""Backfill jobs against the simulator's REST history: paging, limits, 429s, idempotence, funding."""

import time
from decimal import Decimal

import pytest
from prometheus_client import REGISTRY

from apps.backfill.jobs import create_job
from apps.backfill.models import BackfillJob, Gap
from apps.backfill.runner import run_job
from apps.collectors.simulator.context import funding_rate
from apps.marketdata.models import FundingRate
from apps.marketdata.records import FundingRecord
from apps.marketdata.writer import write_funding
from lib.budget import Budget
from tests.backfill.conftest import HOUR, MINUTE, START, at, stored, truth
from tests.collectors.harness import control

pytestmark = pytest.mark.django_db

END = START - START % MINUTE - 60 * MINUTE  # an hour before the simulator's now: every candle is final


def backfill_rows(record_type):
    """kirby_backfill_rows_total{type=record_type}, as /metrics serves it."""
    return REGISTRY.get_sample_value("kirby_backfill_rows_total", {"type": record_type}) or 0


def candles_job(starlisting, start_ms, end_ms):
    return create_job("candles", starlisting_id=starlisting.id, start=at(start_ms), end=at(end_ms), source="api")


def test_a_job_pages_through_many_pages_and_stores_exactly_the_exchanges_candles(world, exchange):
    exchange(page_limit=50)
    job = candles_job(world.btc_1m, END - 600 * MINUTE, END)
    counted_before = backfill_rows("candles")

    job = run_job(job.id)

    assert job.status == "succeeded" and job.progress == 1.0 and job.attempts == 1
    assert job.pages >= 12
    expected = truth("BTC", "1m", END - 600 * MINUTE, END)
    assert stored(world.btc_1m) == expected
    assert job.rows_written == len(expected) and job.available_from is None and job.note == ""
    assert backfill_rows("candles") - counted_before == len(expected)


def test_running_the_same_job_again_changes_nothing(world, exchange):
    exchange(page_limit=100)
    first = run_job(candles_job(world.btc_1m, END - 300 * MINUTE, END).id)
    before = stored(world.btc_1m)

    again = run_job(candles_job(world.btc_1m, END - 300 * MINUTE, END).id)

    assert first.rows_written == len(before) > 0
    assert again.status == "succeeded" and again.rows_written == 0
    assert stored(world.btc_1m) == before


def test_a_job_asking_for_more_than_the_exchange_keeps_records_how_far_back_it_had_data(world, exchange):
    exchange(history_limit=200, page_limit=100)
    start = END - 500 * MINUTE

    job = run_job(candles_job(world.btc_1m, start, START).id)

    held = stored(world.btc_1m)
    oldest = min(held)
    assert job.status == "succeeded"
    assert job.available_from == oldest and oldest > at(start)
    assert oldest >= at(START - START % MINUTE - 199 * MINUTE)
    assert "had data only from" in job.note
    gap = Gap.objects.get(starlisting=world.btc_1m)
    assert (gap.status, gap.reason) == ("unrecoverable", "never_collected")
    assert (gap.start_time, gap.end_time) == (at(start), oldest)


def test_answers_of_429_slow_the_job_down_without_failing_it(world, exchange):
    simulator = exchange(page_limit=100)
    control(simulator, "/control/rest-429", {"count": 3})
    job = candles_job(world.btc_1m, END - 400 * MINUTE, END)
    started = time.monotonic()

    job = run_job(job.id)

    assert time.monotonic() - started >= 3 * 0.2  # each 429 paused every worker's budget
    assert job.status == "succeeded" and job.rate_limited == 3 and job.attempts == 1
    assert stored(world.btc_1m) == truth("BTC", "1m", END - 400 * MINUTE, END)
    state = Budget("hyperliquid").state()
    assert state["rate_limited"] == 3 and state["factor"] == 1 / 8


def test_funding_history_is_paged_and_stamped_on_the_hour_without_touching_live_rows(world, exchange):
    exchange(page_limit=10)
    end = START - START % HOUR - HOUR
    start = end - 30 * HOUR
    live_time = at(start + 5 * HOUR)
    write_funding([FundingRecord(world.btc_pair.id, live_time, Decimal("0.5"), mark_price=Decimal("101"))])

    job = run_job(create_job("funding", trading_pair_id=world.btc_pair.id, start=at(start), end=at(end),
                             source="api").id)  # fmt: skip

    rows = {row.time: row for row in FundingRate.objects.filter(trading_pair=world.btc_pair)}
    assert job.status == "succeeded" and job.pages >= 3 and job.rows_written == 29
    assert sorted(rows) == [at(start + h * HOUR) for h in range(30)]
    for moment, row in rows.items():
        if moment != live_time:
            rate, premium = funding_rate(42, "BTC", int(moment.timestamp() * 1000))
            assert (row.funding_rate, row.premium) == (Decimal(rate), Decimal(premium))
    assert (rows[live_time].funding_rate, rows[live_time].mark_price) == (Decimal("0.5"), Decimal("101"))


def test_a_job_for_a_window_older_than_the_exchanges_history_says_so(world, exchange):
    exchange(history_limit=100)
    job = run_job(candles_job(world.btc_1m, END - 3000 * MINUTE, END - 2000 * MINUTE).id)

    assert job.status == "succeeded" and job.pages == 0 and job.rows_written == 0
    assert job.note == "the exchange's history does not reach back to this window"
    assert job.available_from == job.end_time
    gap = Gap.objects.get(starlisting=world.btc_1m)
    assert (gap.status, gap.missing, gap.start_time, gap.end_time) == ("unrecoverable", 1000, job.start_time,
                                                                        job.end_time)  # fmt: skip


def test_minutes_without_trades_at_the_start_are_not_mistaken_for_the_end_of_history(world, exchange):
    exchange()
    quiet = next(t for t in range(END - 600 * MINUTE, END, MINUTE) if not truth("BTC", "1m", t, t + MINUTE))

    job = run_job(candles_job(world.btc_1m, quiet, quiet + 30 * MINUTE).id)

    assert job.status == "succeeded" and job.available_from is None and job.note == ""
    assert stored(world.btc_1m) == truth("BTC", "1m", quiet, quiet + 30 * MINUTE)
    assert not Gap.objects.exists()


def test_a_job_of_an_ended_job_is_not_run_again(world, exchange):
    exchange()
    job = candles_job(world.btc_1m, END - 10 * MINUTE, END)
    BackfillJob.objects.filter(id=job.id).update(status="cancelled")

    assert run_job(job.id) is None
    assert stored(world.btc_1m) == {}
