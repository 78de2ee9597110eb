"""Backups of trades and order-book snapshots: a piece per day, sealed days reused, restored equal."""

from datetime import timedelta

from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from apps.marketdata.partitions import day_start, partition_name
from apps.marketdata.records import OrderBookRecord, TradeRecord
from apps.marketdata.writer import write_orderbooks, write_trades
from apps.operations.backups.jobs import back_up_all
from apps.operations.backups.postgres import connect
from apps.operations.backups.targets import LocalTarget
from apps.operations.models import Backup


def _contents(dbname, table, order):
    with connect(dbname) as conn:
        return conn.execute(f"SELECT * FROM {table} ORDER BY {order}").fetchall()


def _counters_flushed():
    """Insert counters reach pg_stat_user_tables up to seconds after commit: the fingerprints must count them."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_force_next_flush()")
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def test_trades_and_books_are_backed_up_by_day_and_restore_equal(world_committed, tmp_path, settings):
    world = world_committed
    target = LocalTarget(str(tmp_path / "backups"))
    now = timezone.now()
    sealed_day = day_start(now) - timedelta(days=10)
    today = now - timedelta(minutes=5)
    trades = [
        TradeRecord(world.btc_pair.id, sealed_day + timedelta(seconds=i), str(1000 + i), "97000.5", "0.00012", "buy")
        for i in range(50)
    ] + [TradeRecord(world.sol_pair.id, today, "0xab-1", "180.25", "1.5", "sell")]
    write_trades(trades)
    bids, asks = [["97000.4", "1.25"], ["96999", "0.000001"]], [["97000.6", "3"]]
    write_orderbooks([OrderBookRecord(world.btc_pair.id, sealed_day + timedelta(seconds=i), i, bids, asks)
                      for i in range(10)] + [OrderBookRecord(world.btc_pair.id, today, None, [], asks)])  # fmt: skip
    _counters_flushed()

    first = back_up_all(["default"], target)[0]
    write_trades([TradeRecord(world.btc_pair.id, today, "7", "97001", "0.5", "buy")])  # a new trade today
    _counters_flushed()
    second = back_up_all(["default"], target)[0]

    assert (first.status, second.status) == (Backup.DONE, Backup.DONE), (first.error, second.error)
    pieces = {p["table"]: p for p in second.manifest["pieces"] if p["kind"] == "partition"}
    old_trades = pieces[partition_name("trades", sealed_day)]
    old_books = pieces[partition_name("orderbook_snapshots", sealed_day)]
    # The sealed day's pieces are referenced, not dumped again; today's are dumped each night.
    assert old_trades["reused"] and old_trades["tables"][old_trades["table"]]["rows"] == 50
    assert old_books["reused"] and old_books["tables"][old_books["table"]]["rows"] == 10
    current = pieces[partition_name("trades", day_start(today))]
    assert not current["reused"] and current["tables"][current["table"]]["rows"] == 2
    base = second.manifest["pieces"][0]["tables"]
    assert "trades" not in base or base["trades"]["rows"] == 0  # the rows live in their day's piece

    dbname = connection.settings_dict["NAME"]
    restored = f"{dbname}_ticks_restored"
    settings.KIRBY_BACKUP_TARGET = target.url
    try:
        call_command("restore", "--backup", second.id, "--database", restored)
        order = {"trades": "trading_pair_id, time, trade_id", "orderbook_snapshots": "trading_pair_id, time"}
        for table, by in order.items():
            original = _contents(dbname, table, by)
            assert _contents(restored, table, by) == original and original, table
        assert len(_contents(restored, "trades", "1")) == 52
    finally:
        with connect("postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{restored}"')
