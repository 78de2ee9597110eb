"""OKX backfill jobs end to end: 30 simulated days of 1m swap candles, 15m spot candles, funding and two days
of open interest in a real Celery worker, SIGKILLed halfway and resumed by another, within OKX's own budget.

The jobs fill the training database, as the Bybit jobs test does (no fan-out of every stored page)."""

import signal
from decimal import Decimal

import pytest

from apps.backfill.jobs import create_job
from apps.backfill.models import BackfillJob
from apps.collectors.simulator import okx as simulated
from apps.marketdata.models import Candle, FundingRate, OpenInterest
from apps.markets.models import Coin, Exchange, Interval, MarketType, QuoteCurrency, Starlisting, TradingPair
from lib.budget import Budget
from lib.redis import client as redis_client
from tests.backfill.conftest import FROZEN, MINUTE, SEED, START, at
from tests.collectors.harness import control, processes_running, simulator_running, wait_for
from tests.processes import database_url

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True, databases=["default", "training"])
DB = "training"

DAY = 1440 * MINUTE
END = START - START % DAY  # the simulator's clock stands still at START: every candle before it is final
BEGIN = END - 30 * DAY
SPOT_LISTED = END - 5 * DAY + 45 * MINUTE  # the spot pair's history begins inside the window
RATE, BURST = 3000, 20  # weight a minute (50 a second) and the bucket's capacity
BUDGET = {
    "KIRBY_OKX_REST_WEIGHT_PER_MINUTE": str(RATE), "KIRBY_REST_BURST_SECONDS": "0",
    "KIRBY_REST_429_PAUSE_SECONDS": "0.3", "KIRBY_REST_RECOVERY_SECONDS": "1",
    "KIRBY_BACKFILL_LEASE_SECONDS": "4", "KIRBY_BACKFILL_SUPERVISE_SECONDS": "1",
}  # fmt: skip
WEIGHTS = {"/api/v5/market/history-candles": 1}  # funding and open-interest history weigh 2


@pytest.fixture
def okx_world():
    """BTC/USDT perps (1m) and spot (15m) on OKX, in the training database."""
    exchange = Exchange.objects.using(DB).create(name="okx", display_name="OKX")
    btc = Coin.objects.using(DB).create(symbol="BTC", name="Bitcoin")
    usdt = QuoteCurrency.objects.using(DB).create(symbol="USDT", name="Tether")
    perps = MarketType.objects.using(DB).create(name="perps", display_name="Perpetuals")
    spot = MarketType.objects.using(DB).create(name="spot", display_name="Spot")
    perps_pair, spot_pair = (
        TradingPair.objects.using(DB).create(exchange=exchange, coin=btc, quote=usdt, market_type=market)
        for market in (perps, spot)
    )
    return (
        perps_pair,
        Starlisting.objects.using(DB).create(
            trading_pair=perps_pair, interval=Interval.objects.using(DB).get(name="1m")
        ),
        Starlisting.objects.using(DB).create(
            trading_pair=spot_pair, interval=Interval.objects.using(DB).get(name="15m")
        ),
    )


@pytest.fixture
def processes(tmp_path):
    for key in ("kirby:budget:okx", "kirby:budget:hyperliquid"):
        redis_client().delete(key)
    with simulator_running(**FROZEN) as simulator:
        env = {**BUDGET, "TRAINING_DATABASE_URL": database_url(DB)}
        with processes_running(simulator, tmp_path, **env) as running:
            yield simulator, running


def stored_candles(starlisting):
    rows = Candle.objects.using(DB).filter(starlisting=starlisting).order_by("time")
    assert all(row.closed for row in rows)
    return [(r.time, r.open, r.high, r.low, r.close, r.volume) for r in rows]


def truth(inst_id, interval, listed_ms=0):
    rows = simulated.truth_candles(SEED, inst_id, interval, BEGIN, END, listed_ms)
    return [(at(t), *prices) for t, *prices in rows]


def most_weight_in(log, seconds):
    spent = sorted((entry["at"], WEIGHTS.get(entry["path"], 2)) for entry in log)
    return max(sum(w for t, w in spent[i:] if t < start + seconds) for i, (start, _) in enumerate(spent))


def test_thirty_days_of_okx_history_survive_a_killed_worker_within_okxs_budget(okx_world, processes):
    perps_pair, perps_1m, spot_15m = okx_world
    simulator, running = processes
    control(simulator, "/control/okx/listing", {"instId": "BTC-USDT", "launch_ms": SPOT_LISTED})
    control(simulator, "/control/rest-429", {"count": 2})
    first = running.worker("w1", queues="backfill")
    pair = {"trading_pair_id": perps_pair.id, "source": "api", "database": DB}
    jobs = [
        create_job("candles", starlisting_id=perps_1m.id, start=at(BEGIN), end=at(END), source="api", database=DB),
        create_job("candles", starlisting_id=spot_15m.id, start=at(BEGIN), end=at(END), source="api", database=DB),
        create_job("funding", start=at(BEGIN), end=at(END), **pair),
        create_job("open_interest", start=at(END - 2 * DAY), end=at(END), **pair),
    ]
    wait_for(lambda: BackfillJob.objects.using(DB).get(id=jobs[0].id).pages >= 1, 30, "the first page stored", 0.05)
    running.worker("w2", queues="backfill,default")  # starting while w1 holds every job: it takes over once w1 dies
    running.beat()
    wait_for(lambda: BackfillJob.objects.using(DB).get(id=jobs[0].id).pages >= 20, 60, "a few pages stored", 0.05)

    first.send_signal(signal.SIGKILL)
    first.wait()
    assert BackfillJob.objects.using(DB).get(id=jobs[0].id).status == "running"
    done = lambda: all(BackfillJob.objects.using(DB).get(id=j.id).status == "succeeded" for j in jobs)  # noqa: E731
    wait_for(done, 120, "every job to finish", 0.1)

    perps_job, spot_job, funding_job, interest_job = (BackfillJob.objects.using(DB).get(id=j.id) for j in jobs)
    perps, spot = truth("BTC-USDT-SWAP", "1m"), truth("BTC-USDT", "15m", SPOT_LISTED)
    assert len(perps) == 30 * 1440 and stored_candles(perps_1m) == perps
    assert stored_candles(spot_15m) == spot and spot[0][0] == at(SPOT_LISTED)
    # Resumed from its checkpoint: every row written once, however the kill fell.
    assert perps_job.attempts == 2 and perps_job.rows_written == len(perps) and spot_job.rows_written == len(spot)
    assert spot_job.available_from == at(SPOT_LISTED) and perps_job.available_from is None
    funding = [
        (r.time, r.funding_rate) for r in FundingRate.objects.using(DB).filter(trading_pair=perps_pair).order_by("time")
    ]
    expected = simulated.truth_funding(SEED, "BTC-USDT-SWAP", BEGIN, END)
    assert funding == [(at(t), Decimal(rate)) for t, rate in expected] and funding_job.rows_written == 90
    interest = OpenInterest.objects.using(DB).filter(trading_pair=perps_pair).order_by("time")
    assert [(r.time, str(r.open_interest), str(r.notional_value)) for r in interest] == [
        (at(t), *simulated.open_interest_at(SEED, "BTC-USDT-SWAP", t)[1:])
        for t in range(END - 2 * DAY, END, 5 * MINUTE)
    ]
    assert interest_job.rows_written == 576
    # OKX's budget, read from what the exchange saw: never more than the burst plus the rate.
    log = control(simulator, "/control/okx/requests")
    assert sum(entry["status"] == 429 for entry in log) == 2
    assert sum(j.rate_limited for j in (perps_job, spot_job, funding_job, interest_job)) == 2
    for seconds in (1, 3):
        assert most_weight_in(log, seconds) <= BURST + RATE / 60 * seconds
    assert Budget("hyperliquid").state()["rate_limited"] == 0 and Budget("okx").state()["rate_limited"] == 2
