"""Starlistings in the status document: freshness judged against each interval, completeness, gaps."""

from datetime import timedelta

import pytest

from apps.marketdata.writer import write_candles
from apps.operations.status import hooks
from apps.operations.status.starlistings import starlisting_section
from tests.conftest import World, candle, utc

pytestmark = pytest.mark.django_db

NOW = utc(2026, 11, 20, 12, 0, 40)  # 40 s into the 12:00 minute


def section(now=NOW):
    return {item["name"]: item for item in starlisting_section(now.timestamp())}


def minutes_before(n):
    return NOW.replace(second=0) - timedelta(minutes=n)


def store(starlisting, *times):
    write_candles([candle(starlisting, time, closed=False) for time in times])


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
    assert item["completeness"] is None  # a day is longer than half the 24-hour window


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

    assert item["completeness"] == 0.9
    assert item["state"] == "amber"
    assert item["reason"] == "10.0% of candles missing in the last 24.0 h"


def test_open_gaps_come_from_the_gap_ledger_once_it_is_connected(world):
    store(world.btc_1m, minutes_before(0))
    assert section()["hyperliquid/BTC/USD/perps/1m"]["open_gaps"] is None

    hooks.connect(open_gaps=lambda ids: {world.btc_1m.id: 2} if world.btc_1m.id in ids else {})
    item = section()["hyperliquid/BTC/USD/perps/1m"]

    assert item["open_gaps"] == 2
    assert (item["state"], item["reason"]) == ("amber", "2 open gap(s)")
    assert section()["hyperliquid/BTC/USD/perps/1h"]["open_gaps"] == 0


def test_completeness_from_the_backfill_app_replaces_the_estimate_once_connected(world):
    store(world.btc_1m, *(minutes_before(n) for n in (9, 8, 7, 5, 4, 3, 2, 1, 0)))

    hooks.connect(completeness=lambda ids: {world.btc_1m.id: 1.0})
    item = section()["hyperliquid/BTC/USD/perps/1m"]

    assert (item["completeness"], item["state"]) == (1.0, "green")  # the ledger knows the exchange had no candle
