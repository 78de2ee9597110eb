"""Starlistings in the status document: freshness judged against each interval, completeness, gaps."""

from datetime import timedelta

import pytest

from apps.backfill.models import DataType, Gap
from apps.marketdata.writer import write_candles
from apps.operations.status.starlistings import starlisting_section
from tests.conftest import World, candle, utc

pytestmark = pytest.mark.django_db

NOW = utc(2026, 11, 20, 12, 0, 40)  # 40 s into the 12:00 minute


def section(now=NOW):
    return {item["name"]: item for item in starlisting_section(now.timestamp())}


def minutes_before(n):
    return NOW.replace(second=0) - timedelta(minutes=n)


def store(starlisting, *times):
    """Candles as a live series has them: the newest still open, the ones before it closed."""
    newest = max(times)
    write_candles([candle(starlisting, time, closed=time < newest) for time in times])


def test_a_1m_series_whose_current_candle_is_stored_is_green(world):
    store(world.btc_1m, *(minutes_before(n) for n in range(5, -1, -1)))

    item = section()["hyperliquid/BTC/USD/perps/1m"]

    assert (item["state"], item["reason"]) == ("green", "up to date")
    assert item["last_candle_time"] == "2026-11-20T12:00:00Z"
    assert item["behind_seconds"] == 0 and item["missing_intervals"] == 0
    assert item["completeness"] == 1.0


def test_a_1m_series_quiet_for_3_minutes_is_red(world):
    store(world.btc_1m, minutes_before(4), minutes_before(3))

    item = section()["hyperliquid/BTC/USD/perps/1m"]

    assert item["state"] == "red"
    assert item["reason"] == "stale: no new candle for 3 min (3 intervals)"
    assert item["missing_intervals"] == 3


def test_a_1m_series_one_candle_late_is_amber(world):
    store(world.btc_1m, minutes_before(1))

    item = section()["hyperliquid/BTC/USD/perps/1m"]

    assert (item["state"], item["missing_intervals"]) == ("amber", 1)
    assert item["reason"].startswith("late: no new candle for 40 s")


def test_a_1d_series_updated_hours_ago_is_fine(world):
    daily = World.starlisting(world.btc_pair, "1d")
    store(daily, utc(2026, 11, 20))  # today's candle, opened 12 hours ago

    item = section(utc(2026, 11, 20, 15))["hyperliquid/BTC/USD/perps/1d"]

    assert item["state"] == "green"
    assert item["completeness"] is None  # no closed day in the window yet: nothing expected


def test_a_series_without_candles_is_red_and_inactive_ones_are_left_out(world):
    world.sol_1m.active = False
    world.sol_1m.save()

    items = section()

    assert items["hyperliquid/BTC/USD/perps/1h"]["state"] == "red"
    assert items["hyperliquid/BTC/USD/perps/1h"]["reason"] == "no candles stored"
    assert "hyperliquid/SOL/USD/perps/1m" not in items


def test_holes_in_the_last_day_make_a_fresh_series_amber_with_its_completeness(world):
    store(world.btc_1m, *(minutes_before(n) for n in (9, 8, 7, 5, 4, 3, 2, 1, 0)))  # 6 minutes ago is missing

    item = section()["hyperliquid/BTC/USD/perps/1m"]

    assert item["completeness"] == round(8 / 9, 6)  # 9 closed minutes expected since the first, 8 stored
    assert item["state"] == "amber"
    assert item["reason"] == "11.1% of candles missing in the last 24.0 h"


def gap(world, starlisting, start, end, status=Gap.Status.OPEN):
    return Gap.objects.create(
        data_type=DataType.CANDLES, starlisting=starlisting, trading_pair=starlisting.trading_pair,
        start_time=start, end_time=end, missing=int((end - start).total_seconds() // 60), status=status,
        reason=Gap.Reason.DOWNTIME,
    )  # fmt: skip


def test_open_gaps_come_from_the_gap_ledger(world):
    store(world.btc_1m, minutes_before(0))
    gap(world, world.btc_1m, minutes_before(30), minutes_before(20))
    gap(world, world.btc_1m, minutes_before(10), minutes_before(5))
    gap(world, world.btc_1m, minutes_before(50), minutes_before(40), status=Gap.Status.REPAIRED)

    item = section()["hyperliquid/BTC/USD/perps/1m"]

    assert item["open_gaps"] == 2
    assert (item["state"], item["reason"]) == ("amber", "2 open gap(s)")
    assert section()["hyperliquid/BTC/USD/perps/1h"]["open_gaps"] == 0


def test_slots_the_ledger_knows_the_exchange_had_nothing_for_are_not_missing(world):
    store(world.btc_1m, *(minutes_before(n) for n in (9, 8, 7, 5, 4, 3, 2, 1, 0)))
    gap(world, world.btc_1m, minutes_before(6), minutes_before(5), status=Gap.Status.REPAIRED)  # no trades then

    item = section()["hyperliquid/BTC/USD/perps/1m"]

    assert (item["completeness"], item["state"]) == (1.0, "green")
