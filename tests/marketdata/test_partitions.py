"""Partitions (monthly; daily for trades and books) exist ahead of time and for whatever period data arrives in."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from apps.marketdata.partitions import (
    DAYS_AHEAD,
    day_start,
    ensure_partitions_ahead,
    existing_partitions,
    month_start,
    months_between,
    next_month,
    partition_name,
)
from apps.marketdata.records import OrderBookRecord, TradeRecord
from apps.marketdata.tasks import create_partitions_ahead
from apps.marketdata.writer import write_orderbooks, write_trades
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


TICK_TABLES = ("trades", "orderbook_snapshots")


def test_trades_and_books_have_days_ahead_so_a_write_across_midnight_creates_no_partition(world):
    evening = utc(2024, 2, 28, 23)  # the next midnight is a leap day's, the one after it a month's
    ensure_partitions_ahead(1, now=evening)
    days = [utc(2024, 2, 27) + timedelta(days=d) for d in range(DAYS_AHEAD + 2)]  # yesterday .. DAYS_AHEAD on
    for table in TICK_TABLES:
        assert {partition_name(table, day) for day in days} <= set(existing_partitions(table)), table
    before = {table: existing_partitions(table) for table in TICK_TABLES}

    moments = [utc(2024, 2, 28, 23, 59, 59, 999999), utc(2024, 2, 29), utc(2024, 2, 29, 23, 59, 59, 999999),
               utc(2024, 3, 1)]  # fmt: skip
    trades = write_trades(
        [TradeRecord(world.btc_pair.id, t, str(i), "97000", "0.1", "buy") for i, t in enumerate(moments)]
    )
    books = write_orderbooks([OrderBookRecord(world.btc_pair.id, t, i, [["1", "2"]], [["3", "4"]])
                              for i, t in enumerate(moments)])  # fmt: skip

    assert (trades.inserted, books.inserted) == (4, 4)
    assert {table: existing_partitions(table) for table in TICK_TABLES} == before  # no DDL at midnight
    for table in TICK_TABLES:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT tableoid::regclass::text, time FROM {table} ORDER BY time")
            assert [name for name, _ in cursor.fetchall()] == [
                partition_name(table, utc(2024, 2, 28)), partition_name(table, utc(2024, 2, 29)),
                partition_name(table, utc(2024, 2, 29)), partition_name(table, utc(2024, 3, 1)),
            ]  # fmt: skip


@pytest.mark.django_db(databases=["default", "training"])
def test_the_daily_task_keeps_a_week_of_trade_and_book_days_ahead_in_every_database():
    create_partitions_ahead()

    today = day_start(datetime.now(UTC))
    for alias in ("default", "training"):
        for table in TICK_TABLES:
            names = set(existing_partitions(table, using=alias))
            assert {partition_name(table, today + timedelta(days=d)) for d in range(DAYS_AHEAD + 1)} <= names
