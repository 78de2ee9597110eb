"""Open-interest history through the history engine, where the exchange keeps it (Bybit, by period)."""

from decimal import Decimal

import pytest

from apps.backfill.jobs import create_job
from apps.backfill.runner import run_job
from apps.collectors.simulator import bybit as simulated
from apps.collectors.simulator.config import SimulatorConfig
from apps.collectors.simulator.server import run_in_thread
from apps.marketdata.models import OpenInterest
from apps.marketdata.records import OpenInterestRecord
from apps.marketdata.writer import write_open_interest
from apps.markets.models import Exchange, QuoteCurrency, TradingPair
from lib.redis import client as redis_client
from tests.backfill.conftest import FROZEN, MINUTE, SEED, START, at
from tests.collectors.harness import control

pytestmark = pytest.mark.django_db

END = START - START % (5 * MINUTE)
LISTED = END - 1440 * MINUTE + 125 * MINUTE


@pytest.fixture
def bybit_simulator(settings):
    handle = run_in_thread(SimulatorConfig(**FROZEN))
    settings.KIRBY_BYBIT_REST_URL = handle.url
    settings.KIRBY_REST_WEIGHT_PER_MINUTE = {"bybit": 120_000}
    redis_client().delete("kirby:budget:bybit")
    yield handle
    handle.stop()
    redis_client().delete("kirby:budget:bybit")


def test_a_job_stores_bybits_open_interest_history_from_the_listing_keeping_live_rows(world, bybit_simulator):
    usdt = QuoteCurrency.objects.create(symbol="USDT", name="Tether")
    exchange = Exchange.objects.create(name="bybit", display_name="Bybit")
    pair = TradingPair.objects.create(exchange=exchange, coin=world.sol, quote=usdt, market_type=world.perps)
    control(bybit_simulator, "/control/bybit/listing", {"category": "linear", "symbol": "SOLUSDT", "launch_ms": LISTED})
    live_at = LISTED + 60 * MINUTE  # a row the live collector stored, with what history lacks
    write_open_interest([OpenInterestRecord(pair.id, at(live_at), Decimal("7"), Decimal("1400"))], publish=False)
    job = create_job("open_interest", trading_pair_id=pair.id, start=at(END - 2880 * MINUTE), end=at(END),
                     source="api", queue=False)  # fmt: skip

    job = run_job(job.id)

    assert job.status == "succeeded" and job.available_from == at(LISTED)
    expected = {
        at(t): Decimal(simulated.open_interest_at(SEED, "SOL", t)[1]) for t in range(LISTED, END, 5 * MINUTE)
    } | {at(live_at): Decimal("7")}
    rows = OpenInterest.objects.filter(trading_pair=pair).order_by("time")
    assert {row.time: row.open_interest for row in rows} == expected
    assert rows.get(time=at(live_at)).notional_value == Decimal("1400")
    assert job.rows_written == len(expected) - 1
