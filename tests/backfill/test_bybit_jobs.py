"""Bybit backfill jobs end to end: 30 simulated days of 1m candles (perps and spot) and funding in a
real Celery worker, SIGKILLed halfway and resumed by another, within Bybit's own request budget.

The jobs fill the training database: the same engine, runner and ledger as the live one, minus the
fan-out of every stored page to live subscribers, which would triple the test's time."""

import signal
from decimal import Decimal

import pytest

from apps.backfill.jobs import create_job
from apps.backfill.models import BackfillJob
from apps.collectors.simulator import bybit as simulated
from apps.marketdata.models import Candle, FundingRate
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
SPOT_LISTED = END - 5 * DAY + 7 * MINUTE  # the spot pair's history begins inside the window
RATE, BURST = 1200, 20  # requests a minute (20 a second) and the bucket's capacity
BUDGET = {
    "KIRBY_BYBIT_REST_WEIGHT_PER_MINUTE": str(RATE), "KIRBY_REST_BURST_SECONDS": "0",
    "KIRBY_REST_429_PAUSE_SECONDS": "0.3", "KIRBY_REST_RECOVERY_SECONDS": "1",
    "KIRBY_BACKFILL_LEASE_SECONDS": "4", "KIRBY_BACKFILL_SUPERVISE_SECONDS": "1",
}  # fmt: skip


@pytest.fixture
def bybit_world():
    """BTC/USDT perps and spot on Bybit with 1m starlistings, in the training database."""
    exchange = Exchange.objects.using(DB).create(name="bybit", display_name="Bybit")
    btc = Coin.objects.using(DB).create(symbol="BTC", name="Bitcoin")
    usdt = QuoteCurrency.objects.using(DB).create(symbol="USDT", name="Tether")
    perps = MarketType.objects.using(DB).create(name="perps", display_name="Perpetuals")
    spot = MarketType.objects.using(DB).create(name="spot", display_name="Spot")
    minute = Interval.objects.using(DB).get(name="1m")
    pairs = [
        TradingPair.objects.using(DB).create(exchange=exchange, coin=btc, quote=usdt, market_type=market)
        for market in (perps, spot)
    ]
    return pairs[0], *(Starlisting.objects.using(DB).create(trading_pair=p, interval=minute) for p in pairs)


@pytest.fixture
def processes(tmp_path):
    for key in ("kirby:budget:bybit", "kirby:budget:hyperliquid"):
        redis_client().delete(key)
    with simulator_running(**FROZEN) as simulator:
        env = {**BUDGET, "KIRBY_BYBIT_REST_URL": simulator.url, "TRAINING_DATABASE_URL": database_url(DB)}
        with processes_running(simulator, tmp_path, **env) as running:
            yield simulator, running


def stored_candles(starlisting):
    rows = Candle.objects.using(DB).filter(starlisting=starlisting).order_by("time")
    assert all(row.closed for row in rows)
    return [(r.time, r.open, r.high, r.low, r.close, r.volume) for r in rows]


def truth(category, start_ms, listed_ms=0):
    rows = simulated.truth_klines(SEED, category, "BTCUSDT", "1m", start_ms, END, listed_ms)
    return [(at(t), *prices) for t, *prices in rows]


def most_requests_in(log, seconds):
    times = sorted(entry["at"] for entry in log)
    return max(sum(1 for t in times[i:] if t < start + seconds) for i, start in enumerate(times))


def test_thirty_days_of_bybit_history_survive_a_killed_worker_within_bybits_budget(bybit_world, processes):
    perps_pair, perps_1m, spot_1m = bybit_world
    simulator, running = processes
    control(simulator, "/control/bybit/listing", {"category": "spot", "symbol": "BTCUSDT", "launch_ms": SPOT_LISTED})
    control(simulator, "/control/rest-429", {"count": 2})
    first = running.worker("w1", queues="backfill")
    jobs = [
        create_job("candles", starlisting_id=perps_1m.id, start=at(BEGIN), end=at(END), source="api", database=DB),
        create_job("candles", starlisting_id=spot_1m.id, start=at(BEGIN), end=at(END), source="api", database=DB),
        create_job("funding", trading_pair_id=perps_pair.id, start=at(BEGIN), end=at(END), source="api", database=DB),
    ]
    wait_for(lambda: BackfillJob.objects.using(DB).get(id=jobs[0].id).pages >= 1, 30, "the first page stored", 0.05)
    running.worker("w2", queues="backfill,default")  # starting while w1 holds every job: it takes over once w1 dies
    running.beat()
    wait_for(lambda: BackfillJob.objects.using(DB).get(id=jobs[0].id).pages >= 5, 60, "a few pages stored", 0.05)

    first.send_signal(signal.SIGKILL)
    first.wait()
    assert BackfillJob.objects.using(DB).get(id=jobs[0].id).status == "running"
    done = lambda: all(BackfillJob.objects.using(DB).get(id=j.id).status == "succeeded" for j in jobs)  # noqa: E731
    wait_for(done, 120, "every job to finish", 0.1)

    perps_job, spot_job, funding_job = (BackfillJob.objects.using(DB).get(id=j.id) for j in jobs)
    perps, spot = truth("linear", BEGIN), truth("spot", BEGIN, SPOT_LISTED)
    assert len(perps) == 30 * 1440 and stored_candles(perps_1m) == perps
    assert stored_candles(spot_1m) == spot and spot[0][0] == at(SPOT_LISTED)
    # Resumed from its checkpoint: every row written once, however the kill fell.
    assert perps_job.attempts == 2 and perps_job.rows_written == len(perps) and spot_job.rows_written == len(spot)
    assert spot_job.available_from == at(SPOT_LISTED) and perps_job.available_from is None
    funding = [
        (r.time, r.funding_rate) for r in FundingRate.objects.using(DB).filter(trading_pair=perps_pair).order_by("time")
    ]
    assert funding == [(at(t), Decimal(rate)) for t, rate in simulated.truth_funding(SEED, "BTCUSDT", BEGIN, END)]
    assert len(funding) == 90 and funding_job.rows_written == 90
    # Bybit's budget, read from what the exchange saw: never more than the burst plus the rate.
    log = control(simulator, "/control/bybit/requests")
    assert sum(entry["status"] == 429 for entry in log) == 2
    assert sum(j.rate_limited for j in (perps_job, spot_job, funding_job)) == 2
    for seconds in (1, 3):
        assert most_requests_in(log, seconds) <= BURST + RATE / 60 * seconds
    windows = 2 * 44 + 4  # 43,200 minutes in windows of 1000 (perps, spot), 720 hours of funding in windows of 200
    asked = {(e["path"], e["query"]["category"], e["query"].get("start", e["query"].get("startTime"))) for e in log}
    assert len(asked) == windows + 1  # every window once, plus the probe that found nothing before the spot listing
    # Asked again: a page per 429, the page each job had in flight at the kill, and the spot job's empty windows
    # before its listing (nothing stored there, so no checkpoint).
    before_listing = (SPOT_LISTED - BEGIN) // (1000 * MINUTE) + 1
    assert len(log) <= windows + 1 + 2 + 3 + before_listing
    assert Budget("hyperliquid").state()["rate_limited"] == 0 and Budget("bybit").state()["rate_limited"] == 2
