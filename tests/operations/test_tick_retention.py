"""Retention of trades and order-book snapshots: whole old days are dropped, the day at the horizon loses its
old rows in batches, and the daily task and ``manage.py retention`` cover both."""

from datetime import timedelta

from django.core.management import call_command
from django.utils import timezone

from apps.marketdata.models import OrderBookSnapshot, RetentionPolicy, Trade
from apps.marketdata.partitions import day_start, existing_partitions, partition_name
from apps.marketdata.records import OrderBookRecord, TradeRecord
from apps.marketdata.retention import policies
from apps.marketdata.writer import write_orderbooks, write_trades
from apps.operations.retention import enforce
from apps.operations.tasks import enforce_retention

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def _keep(name, days):
    policies()
    RetentionPolicy.objects.filter(name=name).update(keep_days=days)


def _trades(pair, times):
    write_trades([TradeRecord(pair.id, t, str(i), "97000.5", "0.01", "buy") for i, t in enumerate(times)])


def _books(pair, times):
    write_orderbooks([OrderBookRecord(pair.id, t, i, [["97000", "1"]], [["97001", "2"]]) for i, t in enumerate(times)])


def _freed(outcomes):
    return {policy.name: freed for policy, _, freed, _ in outcomes}


def test_old_days_of_trades_and_books_are_dropped_whole_and_the_day_at_the_horizon_in_batches(world, settings):
    settings.KIRBY_RETENTION_BATCH_ROWS = 2  # three old rows in the day at the horizon: two batches
    settings.KIRBY_RETENTION_PAUSE_SECONDS = 0
    now = day_start(timezone.now()) - DAY + 12 * HOUR  # noon yesterday: every row below is in the past
    _keep("trades", 2)
    _keep("orderbook", 1)
    trades_cutoff, books_cutoff = now - 2 * DAY, now - DAY
    old_day = now - 5 * DAY
    trade_times = [old_day, old_day + HOUR, trades_cutoff - 3 * HOUR, trades_cutoff - 2 * HOUR,
                   trades_cutoff - HOUR, trades_cutoff + HOUR, now - HOUR]  # fmt: skip
    _trades(world.btc_pair, trade_times)
    _books(world.btc_pair, [old_day, books_cutoff - HOUR, books_cutoff + HOUR, now - HOUR])
    old_trades = partition_name("trades", day_start(old_day))
    old_books = partition_name("orderbook_snapshots", day_start(old_day))
    assert old_trades in existing_partitions("trades")

    would = _freed(enforce(dry_run=True, now=now))

    assert (would["trades"].rows, would["trades"].partitions) == (5, [old_trades])
    assert (would["orderbook"].rows, would["orderbook"].partitions) == (2, [old_books])
    assert would["trades"].bytes > 0 and would["trades"].oldest == old_day
    assert Trade.objects.count() == 7 and OrderBookSnapshot.objects.count() == 4  # a dry run changes nothing
    assert RetentionPolicy.objects.get(name="trades").last_run_at is None

    freed = _freed(enforce(now=now))

    assert (freed["trades"].rows, len(freed["trades"].partitions)) == (5, 1)
    assert old_trades not in existing_partitions("trades")
    assert old_books not in existing_partitions("orderbook_snapshots")
    # The day at the horizon stays, with its rows inside the horizon: nothing inside it is ever removed.
    assert partition_name("trades", day_start(trades_cutoff)) in existing_partitions("trades")
    assert sorted(Trade.objects.values_list("time", flat=True)) == [trades_cutoff + HOUR, now - HOUR]
    assert sorted(OrderBookSnapshot.objects.values_list("time", flat=True)) == [books_cutoff + HOUR, now - HOUR]
    trades = RetentionPolicy.objects.get(name="trades")
    assert (trades.last_rows_freed, trades.last_partitions_dropped) == (5, 1) and trades.last_bytes_freed > 0


def test_the_retention_command_and_the_daily_task_cover_trades_and_books(world, capsys):
    _keep("trades", 30)
    _keep("orderbook", 7)
    long_ago = day_start(timezone.now()) - 40 * DAY
    _trades(world.btc_pair, [long_ago, long_ago + HOUR])
    _books(world.btc_pair, [long_ago])

    call_command("retention", "--dry-run")

    lines = {line.split(":", 1)[0]: line for line in capsys.readouterr().out.splitlines()}
    assert "would free 2 rows" in lines["trades"] and "1 whole partitions" in lines["trades"]
    assert "would free 1 rows" in lines["orderbook"] and "1 whole partitions" in lines["orderbook"]
    assert Trade.objects.count() == 2

    assert enforce_retention() == 3  # the daily task: both old days dropped whole
    assert not Trade.objects.exists() and not OrderBookSnapshot.objects.exists()
    assert partition_name("trades", long_ago) not in existing_partitions("trades")


def test_trades_and_books_default_to_kirby_retention_days(db, settings):
    settings.KIRBY_RETENTION_DAYS = {**settings.KIRBY_RETENTION_DAYS, "trades": 30.0, "orderbook": 7.0}
    RetentionPolicy.objects.filter(name__in=["trades", "orderbook"]).delete()

    stored = policies()

    assert (stored["trades"].keep_days, stored["orderbook"].keep_days) == (30.0, 7.0)
