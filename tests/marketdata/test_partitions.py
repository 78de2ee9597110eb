"""Monthly partitions exist ahead of time and for whatever months data arrives in."""

from datetime import UTC, datetime

import pytest

from apps.marketdata.partitions import (
    ensure_partitions_ahead,
    existing_partitions,
    month_start,
    months_between,
    next_month,
    partition_name,
)
from apps.marketdata.tasks import create_partitions_ahead
from tests.conftest import utc


def test_partitions_are_prepared_from_last_month_to_months_ahead(db):
    ensure_partitions_ahead(2, now=utc(2031, 1, 10))

    for table in ("candles", "funding_rates", "open_interest"):
        names = existing_partitions(table)
        assert {f"{table}_p2030_12", f"{table}_p2031_01", f"{table}_p2031_02", f"{table}_p2031_03"} <= set(names)
        assert f"{table}_p2031_04" not in names


@pytest.mark.django_db(databases=["default", "training"])
def test_the_daily_task_keeps_the_configured_months_ahead_in_every_database(settings):
    settings.KIRBY_PARTITION_MONTHS_AHEAD = 5

    create_partitions_ahead()

    for alias in ("default", "training"):
        names = set(existing_partitions("candles", using=alias))
        # The task must cover the five months after the current one.
        month = month_start(datetime.now(UTC))
        for _ in range(5):
            month = next_month(month)
            assert partition_name("candles", month) in names


def test_month_arithmetic_crosses_year_ends():
    assert [m.month for m in months_between(utc(2025, 11, 30), utc(2026, 2, 1))] == [11, 12, 1, 2]
