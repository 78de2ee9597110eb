"""Binance open-interest history (openInterestHist, 5m, the last 30 days) through the one engine."""

from decimal import Decimal

import pytest

from apps.backfill.jobs import backfill_new_series, create_job
from apps.backfill.runner import run_job
from apps.collectors.simulator.config import SimulatorConfig
from apps.collectors.simulator.context import asset_ctx
from apps.collectors.simulator.server import run_in_thread
from apps.marketdata.models import OpenInterest
from tests.backfill.conftest import FROZEN, SEED, START, at
from tests.collectors.harness import BinanceWorld

pytestmark = pytest.mark.django_db

FIVE_MINUTES, DAY = 300_000, 86_400_000


@pytest.fixture
def binance(settings):
    handle = run_in_thread(SimulatorConfig(**FROZEN))
    settings.KIRBY_BINANCE_USDM_REST_URL = handle.url
    yield handle
    handle.stop()


def test_a_new_perpetual_gets_funding_and_the_open_interest_history_binance_keeps(binance):
    world = BinanceWorld()
    end = START // FIVE_MINUTES * FIVE_MINUTES
    job = create_job("open_interest", trading_pair_id=world.btc_perp.id, start=at(end - 40 * DAY), end=at(end),
                     source="api", queue=False)  # fmt: skip

    job = run_job(job.id)

    first = -(-(START - 30 * DAY) // FIVE_MINUTES) * FIVE_MINUTES  # Binance keeps the last 30 days only
    expected = []
    for t in range(first, end, FIVE_MINUTES):
        ctx = asset_ctx(SEED, "BTC", t)
        oi = Decimal(ctx["openInterest"])
        expected.append((at(t), oi, oi * Decimal(ctx["markPx"])))
    rows = OpenInterest.objects.filter(trading_pair=world.btc_perp).order_by("time")
    assert [(r.time, r.open_interest, r.notional_value) for r in rows] == expected
    assert job.status == "succeeded" and job.available_from == at(first)
    assert "only from" in job.note

    queued = backfill_new_series(trading_pair_ids=[world.btc_perp.id, world.btc_spot.id])
    assert sorted((j.data_type, j.trading_pair_id) for j in queued) == [
        ("funding", world.btc_perp.id), ("open_interest", world.btc_perp.id)
    ]  # fmt: skip
