"""Backups against real PostgreSQL and a real S3-compatible server (moto's server mode, over HTTP)."""

import time
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, connections
from django.utils import timezone

from apps.marketdata.tables import FUNDING
from apps.marketdata.writer import write_candles, write_funding
from apps.operations.backups.jobs import back_up_all
from apps.operations.backups.postgres import BackupError, connect
from apps.operations.backups.restore import restore, verify
from apps.operations.backups.rotation import gfs_keep
from apps.operations.backups.targets import LocalTarget, S3Target
from apps.operations.models import Backup
from apps.operations.status.keeping import backups_section
from apps.operations.tasks import run_backups
from lib.metrics import BACKUP_AGE, BACKUP_FAILED
from tests.conftest import candle, utc
from tests.training import BOTH, TRAINING, TrainingWorld


def _contents(dbname, table):
    with connect(dbname) as conn:
        return conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall()


def test_backup_restore_reuse_and_a_truncated_piece(world_committed, s3, settings):
    world = world_committed
    s3.create_bucket(Bucket="kirby-backups")
    target = S3Target("s3://kirby-backups/nightly")
    now = timezone.now()
    old_month = [candle(world.btc_1m, utc(2021, 1, 1) + timedelta(minutes=i)) for i in range(500)]
    write_candles(
        old_month + [candle(world.btc_1h, utc(2021, 1, 1))] + [candle(world.btc_1m, now - timedelta(hours=1))]
    )
    write_funding([FUNDING.record(world.btc_pair.id, utc(2021, 1, 2), "0.0001")])
    # A backend hands its insert counters to pg_stat_user_tables up to seconds later; the first backup
    # must fingerprint the old month with these rows counted, or the second sees it changed.
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_force_next_flush()")
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")

    first = back_up_all(["default"], target)[0]
    write_candles([candle(world.sol_1m, now - timedelta(minutes=5))])  # a day's new data, in the current month
    settings.KIRBY_BACKUP_TARGET = target.url
    call_command("backup", "--database", "production")
    second = Backup.objects.order_by("-created_at").first()

    assert (first.status, second.status) == (Backup.DONE, Backup.DONE), (first.error, second.error)
    pieces = {p["table"]: p for p in second.manifest["pieces"] if p["kind"] == "partition"}
    old = pieces["candles_p2021_01"]
    assert old["reused"] and old["tables"]["candles_p2021_01"]["rows"] == 501 and len(old["sha256"]) == 64
    assert old["name"] in {p["name"] for p in first.manifest["pieces"]}  # referenced, not dumped again
    current = pieces[f"candles_p{now:%Y_%m}"]
    assert not current["reused"] and current["tables"][current["table"]]["rows"] == 2
    assert second.written < second.size

    dbname = connection.settings_dict["NAME"]
    restored = f"{dbname}_restored"
    try:
        # The command compares every table's rows and checksum with the manifest.
        call_command("restore", "--backup", second.id, "--database", restored)
        for table in ("candles", "funding_rates", "open_interest", "starlistings", "trading_pairs", "access_apikey"):
            assert _contents(restored, table) == _contents(dbname, table), table
        with pytest.raises(CommandError, match="not empty.*--force"):
            call_command("restore", "--backup", second.id, "--database", restored)
    finally:
        with connect("postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{restored}"')

    # Both ran on one day: the rotation keeps the newest, and of the first only what the second references.
    assert not Backup.objects.filter(id=first.id).exists()
    names = {k["Key"] for k in s3.list_objects_v2(Bucket="kirby-backups")["Contents"]}
    assert f"nightly/{old['name']}" in names and f"nightly/{first.manifest['pieces'][0]['name']}" not in names
    assert {f"nightly/{p['name']}" for p in second.manifest["pieces"]} <= names

    # The weekly check: restored into a scratch database, compared, dropped; the age is in the status and metrics.
    assert verify(second, target) is True
    section = backups_section(time.time())
    assert section["state"] == "green" and section["newest_verified"] == second.id
    assert section["newest_verified_age_seconds"] < 600 and BACKUP_AGE._value.get() < 600
    with connect("postgres") as conn:
        assert not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [f"{dbname}_verify"]).fetchone()

    # A target that cannot be written: a failed backup with a one-line error, the good one untouched.
    broken = back_up_all(["default"], LocalTarget("/proc/kirby-backups"))[0]
    assert broken.status == Backup.FAILED and broken.error.startswith("cannot write /proc/kirby-backups/")
    assert "\n" not in broken.error and Backup.objects.get(id=second.id).status == Backup.DONE

    base = second.manifest["pieces"][0]["name"]
    whole = s3.get_object(Bucket="kirby-backups", Key=f"nightly/{base}")["Body"].read()
    s3.put_object(Bucket="kirby-backups", Key=f"nightly/{base}", Body=whole[: len(whole) // 2])
    assert verify(second, target) is False
    second.refresh_from_db()
    assert second.status == Backup.FAILED and "corrupt or truncated" in second.error
    # Its manifest is gone from the target: a machine that knows only the target is not offered it either.
    assert f"nightly/manifests/{second.id}.json" not in {
        k["Key"] for k in s3.list_objects_v2(Bucket="kirby-backups")["Contents"]
    }
    with pytest.raises(BackupError, match="is failed, not restorable"):
        restore(second, f"{dbname}_never")
    section = backups_section(time.time())
    assert section["state"] == "amber" and section["newest_verified"] is None  # none left that a restore proved
    assert BACKUP_FAILED._value.get() == 1 and BACKUP_AGE._value.get() == float("inf")  # the alerts' inputs


def test_rotation_keeps_the_grandfather_father_son_set():
    days = [utc(2026, 1, 1, 3) + timedelta(days=d) for d in range(120)]
    runs = days + [day + timedelta(hours=12) for day in days[-3:]]  # two runs on each of the last three days

    kept = gfs_keep(runs, daily=7, weekly=4, monthly=3)

    last = runs[-1]
    daily = {day + timedelta(hours=12) for day in days[-3:]} | set(days[-7:-3])
    weekly = {max(m for m in runs if m.isocalendar()[:2] == week) for week in {m.isocalendar()[:2] for m in runs}}
    weekly = set(sorted(weekly)[-4:])
    monthly = {max(m for m in runs if (m.year, m.month) == month) for month in [(2026, 4), (2026, 3), (2026, 2)]}
    assert last in kept and kept == daily | weekly | monthly


def _counters_flushed(using):
    """A backend hands its insert counters to pg_stat_user_tables up to seconds later (README, "Backups"):
    the backup must see the rows just written to an old month, or it reuses that month's piece."""
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT pg_stat_force_next_flush()")
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT 1")


@pytest.mark.django_db(transaction=True, serialized_rollback=True, databases=BOTH)
def test_the_training_database_is_backed_up_on_schedule_and_on_demand_and_restores_equal(settings, tmp_path):
    settings.KIRBY_BACKUP_TARGET = str(tmp_path / "backups")
    world = TrainingWorld()
    write_candles([candle(world.perp_1m, utc(2019, 3, 1, 0, m)) for m in range(20)], publish=False, using=TRAINING)
    _counters_flushed(TRAINING)

    assert run_backups() == []  # the daily task: every configured database, none failed
    scheduled = Backup.objects.get(database=TRAINING)
    write_candles([candle(world.spot_1m, utc(2019, 3, 2, 0, 0))], publish=False, using=TRAINING)
    _counters_flushed(TRAINING)
    call_command("backup", "--database", "training")
    on_demand = Backup.objects.filter(database=TRAINING).order_by("-created_at").first()

    assert {b.database for b in Backup.objects.all()} == {"default", TRAINING}
    assert on_demand.id != scheduled.id and on_demand.status == Backup.DONE
    assert on_demand.manifest["pieces"][1]["tables"]["candles_p2019_03"]["rows"] == 21
    training = settings.DATABASES[TRAINING]["NAME"]
    restored = f"{training}_restored"
    try:
        call_command("restore", "--backup", on_demand.id, "--database", restored)
        for table in ("candles", "starlistings", "trading_pairs", "exchanges"):
            assert _contents(restored, table) == _contents(training, table), table
        assert len(_contents(restored, "candles")) == 21
    finally:
        with connect("postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{restored}"')
