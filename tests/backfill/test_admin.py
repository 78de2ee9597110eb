"""The admin starts backfills (actions, new starlistings) and shows jobs with progress and the gap ledger."""

import pytest
from django.contrib.auth import get_user_model

from apps.backfill.models import BackfillJob, Gap
from apps.markets.models import Interval, Starlisting
from tests.conftest import utc


@pytest.fixture
def admin_client(client, world):
    user = get_user_model().objects.create_superuser("ops", "ops@example.com", "pw-for-tests-only")
    client.force_login(user)
    return client


def test_starlisting_and_trading_pair_actions_queue_backfills(admin_client, world, settings):
    settings.KIRBY_BACKFILL_DAYS = 7
    admin_client.post(
        "/admin/markets/starlisting/",
        {"action": "backfill_candles", "_selected_action": [world.btc_1m.id, world.sol_1m.id]},
    )
    admin_client.post("/admin/markets/tradingpair/",
                      {"action": "backfill_funding", "_selected_action": [world.btc_pair.id]})  # fmt: skip

    jobs = BackfillJob.objects.order_by("id")
    assert [(j.data_type, j.starlisting_id, j.trading_pair_id, j.source, j.status) for j in jobs] == [
        ("candles", world.btc_1m.id, world.btc_pair.id, "admin", "queued"),
        ("candles", world.sol_1m.id, world.sol_pair.id, "admin", "queued"),
        ("funding", None, world.btc_pair.id, "admin", "queued"),
    ]
    assert all((j.end_time - j.start_time).days == 7 for j in jobs)


def test_a_starlisting_added_in_the_admin_is_backfilled(admin_client, world):
    response = admin_client.post(
        "/admin/markets/starlisting/add/",
        {"trading_pair": world.sol_pair.id, "interval": Interval.objects.get(name="4h").id, "active": "on"},
    )

    added = Starlisting.objects.get(trading_pair=world.sol_pair, interval__name="4h")
    assert response.status_code == 302
    assert list(BackfillJob.objects.values_list("starlisting_id", "source")) == [(added.id, "new_series")]


def test_the_job_list_shows_progress_and_the_ledger_lists_gaps(admin_client, world):
    BackfillJob.objects.create(data_type="candles", starlisting=world.btc_1m, trading_pair=world.btc_pair,
                               start_time=utc(2025, 3, 1), end_time=utc(2025, 3, 2), status="running",
                               checkpoint=utc(2025, 3, 1, 6))  # fmt: skip
    Gap.objects.create(data_type="candles", starlisting=world.btc_1m, trading_pair=world.btc_pair, missing=2,
                       start_time=utc(2025, 3, 1), end_time=utc(2025, 3, 1, 0, 2), reason="downtime")  # fmt: skip

    jobs = admin_client.get("/admin/backfill/backfilljob/").content.decode()
    gaps = admin_client.get("/admin/backfill/gap/", {"status__exact": "open"})

    assert '<progress value="25.0" max="100"></progress> 25.0%' in jobs
    assert "hyperliquid/BTC/USD/perps/1m" in jobs
    assert gaps.status_code == 200 and gaps.context["cl"].result_count == 1
