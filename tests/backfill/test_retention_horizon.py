"""Backfill and retention: what retention removed is not fetched again unless an operator asks for it."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from apps.backfill.jobs import create_job
from apps.backfill.models import BackfillJob
from apps.marketdata.models import RetentionPolicy
from tests.backfill.conftest import MINUTE, START, at, stored, truth

pytestmark = pytest.mark.django_db

END = START - START % MINUTE - 60 * MINUTE


def _keep_1m_candles(days):
    RetentionPolicy.objects.update_or_create(name="candles:1m", defaults={"keep_days": days})


def test_the_command_skips_purged_history_and_refills_it_with_refill_purged(world, exchange):
    exchange()
    _keep_1m_candles(30)  # the simulator's March 2025 lies long before the horizon
    window = ["--start-time", at(END - 45 * MINUTE).isoformat(), "--end-time", at(END).isoformat()]
    out = StringIO()

    call_command("backfill", "--coin", "btc", "--interval", "1m", *window, stdout=out)

    assert "skipped hyperliquid/BTC/USD/perps/1m: the window lies before its retention horizon" in out.getvalue()
    assert stored(world.btc_1m) == {} and not BackfillJob.objects.exists()

    call_command("backfill", "--coin", "btc", "--interval", "1m", *window, "--refill-purged", stdout=out)

    assert stored(world.btc_1m) == truth("BTC", "1m", END - 45 * MINUTE, END)
    job = BackfillJob.objects.get()
    assert (job.start_time, job.end_time, job.status) == (at(END - 45 * MINUTE), at(END), "succeeded")


def test_a_window_across_the_horizon_starts_at_it_unless_an_operator_typed_it(world):
    horizon = at(END - 30 * MINUTE)
    _keep_1m_candles((timezone.now() - horizon) / timedelta(days=1))
    window = {"starlisting_id": world.btc_1m.id, "start": at(END - 90 * MINUTE), "end": at(END), "queue": False}

    automatic = create_job("candles", source=BackfillJob.Source.CLI, **window)
    typed = create_job("candles", source=BackfillJob.Source.ADMIN, **window)

    assert abs(automatic.start_time - horizon) < timedelta(minutes=1) and automatic.end_time == at(END)
    assert typed.start_time == at(END - 90 * MINUTE)  # the admin and the API refill what the operator asked for
