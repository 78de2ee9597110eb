"""Binance history through the one engine: 30 simulated days of 1m candles and funding for a USD-M perpetual.

Real processes: the jobs run in a Celery worker that is SIGKILLed mid-job; a second worker
resumes from the checkpoint. The simulator lists the symbol two days into the window, so the
jobs record where Binance's history really begins (``available_from``). Every request is held to
Binance's own token bucket, asserted from the simulator's request log, and a 429 pauses Binance
only.
"""

import signal
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from apps.backfill.jobs import create_job
from apps.backfill.models import BackfillJob, Gap
from apps.collectors.simulator import binance as simulated
from apps.marketdata.models import Candle, FundingRate
from lib.budget import Budget
from tests.backfill.conftest import FROZEN, HOUR, MINUTE, START
from tests.collectors.harness import SEED, BinanceWorld, control, processes_running, simulator_running, wait_for

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

DAY = 24 * HOUR
END = START // HOUR * HOUR - HOUR
WINDOW_START = END - 30 * DAY
LISTING = (WINDOW_START + 2 * DAY) // (8 * HOUR) * (8 * HOUR)  # a funding boundary
RATE = 2400  # weight per minute: four 1500-row kline pages (weight 10) a second
BUDGET = {"KIRBY_BINANCE_REST_WEIGHT_PER_MINUTE": str(RATE), "KIRBY_REST_BURST_SECONDS": "0",
          "KIRBY_REST_429_PAUSE_SECONDS": "0.5", "KIRBY_REST_RECOVERY_SECONDS": "2"}  # fmt: skip
CAPACITY = 20  # the bucket's burst: max(20, rate / 60 * 0)


def at(ms):
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


@pytest.fixture
def world(transactional_db, django_db_serialized_rollback):
    world = BinanceWorld()
    world.exchange.active = False  # history only: no live stream competes for the budget
    world.exchange.save()
    return world


@pytest.fixture
def simulator():
    with simulator_running(**{**FROZEN, "binance_listing_ms": LISTING}) as handle:
        yield handle


@pytest.fixture
def processes(simulator, tmp_path):
    # A 1500-candle page written in one transaction may take seconds on a loaded machine: the runner's
    # lease-keeping thread (a renewal a third of a term) holds the lease through it, so the lease only needs to
    # lapse soon after the SIGKILL, when the second worker is to take the job over.
    env = {**BUDGET, "KIRBY_BACKFILL_LEASE_SECONDS": "4", "KIRBY_BACKFILL_SUPERVISE_SECONDS": "1"}
    with processes_running(simulator, tmp_path, **env) as running:
        yield running


def assert_within_the_token_bucket(log):
    """Weight spent in any stretch of time never exceeds the burst plus the refill over that stretch."""
    times, weights = [e["at"] for e in log], [e["weight"] for e in log]
    for i in range(len(log)):
        spent = 0
        for j in range(i, len(log)):
            spent += weights[j]
            allowed = CAPACITY + RATE / 60 * (times[j] - times[i]) + 10  # one page of timing slack
            assert spent <= allowed, f"{spent} weight in {times[j] - times[i]:.2f} s"


def test_thirty_days_of_binance_candles_and_funding_resume_after_sigkill_within_binances_budget(
    world, simulator, processes
):
    control(simulator, "/control/rest-429", {"count": 1})
    first = processes.worker("w1", queues="backfill")
    candles = create_job("candles", starlisting_id=world.perp_1m.id, start=at(WINDOW_START), end=at(END), source="api")
    funding = create_job(
        "funding", trading_pair_id=world.btc_perp.id, start=at(WINDOW_START), end=at(END), source="api"
    )
    wait_for(lambda: BackfillJob.objects.get(id=candles.id).pages >= 4, 40, "a few pages stored", 0.05)

    first.send_signal(signal.SIGKILL)
    first.wait()
    assert BackfillJob.objects.get(id=candles.id).status == "running"
    processes.worker("w2", queues="backfill,default")
    processes.beat()
    done = {"succeeded"}
    try:
        # 29 pages of 1500 candles, each written and published in one transaction: slow on a loaded machine.
        wait_for(lambda: {j.status for j in BackfillJob.objects.filter(id__in=[candles.id, funding.id])} == done, 180,
                 "both jobs to finish")  # fmt: skip
    except AssertionError:
        jobs = list(BackfillJob.objects.values("id", "data_type", "status", "pages", "last_error", "attempts"))
        raise AssertionError(f"{jobs}\n{processes.logs()}") from None
    processes.stop_all()

    candles.refresh_from_db()
    funding.refresh_from_db()
    truth = simulated.truth(SEED, "usdm", "BTCUSDT", "1m", WINDOW_START, END, LISTING)
    rows = Candle.objects.filter(starlisting=world.perp_1m).order_by("time")
    stored = [(int(r.time.timestamp() * 1000), r.open, r.high, r.low, r.close, r.volume, r.num_trades) for r in rows]
    assert stored == truth and len(truth) == (END - LISTING) // MINUTE  # every minute once, every digit
    assert all(r.closed for r in rows)
    assert candles.attempts == 2 and candles.available_from == at(LISTING)
    funding_truth = simulated.funding_truth(SEED, "BTCUSDT", WINDOW_START, END, LISTING)
    got = list(
        FundingRate.objects.filter(trading_pair=world.btc_perp).order_by("time").values_list("time", "funding_rate")
    )
    assert [(int(t.timestamp() * 1000), rate) for t, rate in got] == [
        (row["fundingTime"] // HOUR * HOUR, Decimal(row["fundingRate"])) for row in funding_truth
    ]
    assert funding.available_from == at(LISTING)
    assert Gap.objects.filter(starlisting=world.perp_1m, reason=Gap.Reason.NEVER_COLLECTED,
                              status=Gap.Status.UNRECOVERABLE, end_time=at(LISTING)).exists()  # fmt: skip

    log = control(simulator, "/control/rest-log")
    assert {e["path"] for e in log} == {"/fapi/v1/klines", "/fapi/v1/fundingRate"}
    assert [e["status"] for e in log].count(429) == 1
    assert_within_the_token_bucket(log)
    assert Budget("binance").state()["rate_limited"] == 1
    assert Budget("hyperliquid").state()["rate_limited"] == 0  # a Binance 429 pauses Binance only
