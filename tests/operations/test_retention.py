"""Retention: whole partitions past the horizon are dropped, shared ones lose only the policy's old rows."""

from datetime import timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.utils import timezone

from apps.backfill import ledger
from apps.backfill.completeness import report
from apps.backfill.models import Gap
from apps.marketdata.models import Candle, FundingRate, RetentionPolicy
from apps.marketdata.partitions import existing_partitions
from apps.marketdata.retention import policies
from apps.marketdata.series import candle_series
from apps.marketdata.tables import FUNDING
from apps.marketdata.writer import write_candles, write_funding
from apps.operations.status.keeping import retention_section
from lib.metrics import RETENTION_PARTITIONS
from lib.timeutil import from_ms, to_ms
from tests.conftest import candle, utc


def _keep(name, days):
    policies()
    RetentionPolicy.objects.filter(name=name).update(keep_days=days)


def _rows(starlisting):
    return sorted(Candle.objects.filter(starlisting=starlisting).values_list("time", flat=True))


def test_policies_drop_old_partitions_and_delete_only_their_rows_from_shared_ones(world, capsys, admin_api):
    now = timezone.now()
    _keep("candles:1m", 30)
    _keep("funding", 30)
    old, inside, straddling = utc(2020, 3, 5), now - timedelta(days=10), now - timedelta(days=31)
    write_candles([candle(world.btc_1m, old), candle(world.btc_1m, straddling), candle(world.btc_1m, inside)])
    write_candles([candle(world.btc_1h, old), candle(world.btc_1h, straddling)])
    write_funding([FUNDING.record(world.btc_pair.id, t, Decimal("0.0001")) for t in (old, utc(2020, 3, 9), inside)])
    Gap.objects.create(
        data_type="candles", starlisting=world.btc_1m, trading_pair=world.btc_pair,
        start_time=utc(2020, 3, 1), end_time=utc(2020, 3, 2), missing=1440, reason="downtime",
    )  # fmt: skip

    call_command("retention", "--dry-run")
    printed = capsys.readouterr().out
    assert "funding: before" in printed and "would free 2 rows" in printed and "1 whole partitions" in printed
    assert "candles:1h: kept forever" in printed
    assert "(oldest 2020-03-05T00:00:00Z" in printed
    assert FundingRate.objects.count() == 3 and Candle.objects.count() == 5
    assert "funding_rates_p2020_03" in existing_partitions("funding_rates")
    assert RetentionPolicy.objects.get(name="funding").last_run_at is None

    call_command("retention")

    # The funding partition of March 2020 is gone from the catalog; the candle one is shared with 1h candles.
    assert "funding_rates_p2020_03" not in existing_partitions("funding_rates")
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('funding_rates_p2020_03')")
        assert cursor.fetchone()[0] is None
    assert "candles_p2020_03" in existing_partitions("candles")
    assert list(FundingRate.objects.values_list("time", flat=True)) == [inside]
    assert _rows(world.btc_1m) == [inside]  # never a row inside the horizon
    assert _rows(world.btc_1h) == [old, straddling]  # 1h candles are kept forever
    funding = RetentionPolicy.objects.get(name="funding")
    assert (funding.last_rows_freed, funding.last_partitions_dropped) == (2, 1) and funding.last_bytes_freed > 0
    assert RetentionPolicy.objects.get(name="candles:1m").last_rows_freed == 2
    assert not Gap.objects.exists()  # purged history is not a gap
    shown = {p["name"]: p for p in retention_section()["policies"]}
    assert shown["funding"]["last_rows_freed"] == 2 and shown["candles:1h"]["keep_days"] is None
    assert RETENTION_PARTITIONS.labels("funding")._value.get() >= 1
    # An operator sees each policy's last run in /api/status and on the dashboard.
    status = admin_api.get("/api/status").json()
    listed = {p["name"]: p for p in status["retention"]["policies"]}
    assert listed["candles:1m"]["last_rows_freed"] == 2 and listed["funding"]["last_partitions_dropped"] == 1
    assert status["backups"]["state"] == "green" and status["backups"]["recent"] == []
    browser = Client()
    browser.force_login(get_user_model().objects.create_user("staffer", password="x", is_staff=True))
    page = browser.get("/dashboard").content.decode()
    assert 'id="retention"' in page and '<tr data-name="candles:1m"><td>candles:1m</td><td>30.0</td>' in page


def test_completeness_and_the_gap_ledger_ignore_purged_history(world):
    _keep("candles:1m", 0.5)
    now_ms = (to_ms(timezone.now()) // 60_000) * 60_000
    horizon_ms = now_ms - 12 * 3600_000
    # One candle from before the horizon (not yet purged), then every minute since the horizon.
    times = [horizon_ms - 8 * 3600_000] + list(range(horizon_ms, now_ms, 60_000))
    write_candles([candle(world.btc_1m, from_ms(t)) for t in times], publish=False)

    measured = report(now_ms)["hyperliquid/BTC/USD/perps/1m"]

    assert measured["ratio"] == 1.0 and measured["expected"] == 720
    assert measured["window_start"] == from_ms(horizon_ms) == measured["retention_horizon"]
    series = candle_series(world.btc_1m.id)
    assert ledger.record_gap(series, horizon_ms - 6 * 3600_000, horizon_ms - 3600_000, Gap.Reason.DOWNTIME) == []
