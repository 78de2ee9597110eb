"""Coinbase backfill jobs end to end: 30 simulated days of 1m candles, and 4h candles Coinbase does not
publish (built from its 2h ones), in a real Celery worker SIGKILLed halfway and resumed by another,
within Coinbase's own request budget (compressed to 20 requests a second here: Coinbase allows 10).

The jobs fill the training database, as the Bybit jobs test does, to skip the live fan-out."""

import signal

import pytest

from apps.backfill.jobs import create_job
from apps.backfill.models import BackfillJob
from apps.collectors.simulator import coinbase as simulated
from apps.marketdata.models import Candle
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
RATE, BURST = 1200, 20  # requests a minute (20 a second) and the bucket's capacity
BUDGET = {
    "KIRBY_COINBASE_REST_WEIGHT_PER_MINUTE": str(RATE), "KIRBY_REST_BURST_SECONDS": "0",
    "KIRBY_REST_429_PAUSE_SECONDS": "0.3", "KIRBY_REST_RECOVERY_SECONDS": "1",
    "KIRBY_BACKFILL_LEASE_SECONDS": "4", "KIRBY_BACKFILL_SUPERVISE_SECONDS": "1",
}  # fmt: skip


@pytest.fixture
def coinbase_world():
    """BTC-USD spot on Coinbase with 1m and 4h starlistings, in the training database."""
    exchange = Exchange.objects.using(DB).create(name="coinbase", display_name="Coinbase")
    btc = Coin.objects.using(DB).create(symbol="BTC", name="Bitcoin")
    usd = QuoteCurrency.objects.using(DB).create(symbol="USD", name="US Dollar")
    spot = MarketType.objects.using(DB).create(name="spot", display_name="Spot")
    pair = TradingPair.objects.using(DB).create(exchange=exchange, coin=btc, quote=usd, market_type=spot)
    return [
        Starlisting.objects.using(DB).create(trading_pair=pair, interval=Interval.objects.using(DB).get(name=name))
        for name in ("1m", "4h")
    ]


@pytest.fixture
def processes(tmp_path):
    for key in ("kirby:budget:coinbase", "kirby:budget:hyperliquid"):
        redis_client().delete(key)
    with simulator_running(**FROZEN) as simulator:
        env = {**BUDGET, "KIRBY_COINBASE_REST_URL": simulator.url, "TRAINING_DATABASE_URL": database_url(DB)}
        with processes_running(simulator, tmp_path, **env) as running:
            yield simulator, running


def stored_candles(starlisting):
    rows = Candle.objects.using(DB).filter(starlisting=starlisting).order_by("time")
    assert all(row.closed for row in rows)
    return [(r.time, r.open, r.high, r.low, r.close, r.volume) for r in rows]


def truth(interval):
    return [(at(t), *prices) for t, *prices in simulated.truth_candles(SEED, "BTC-USD", interval, BEGIN, END)]


def most_requests_in(log, seconds):
    times = sorted(entry["at"] for entry in log)
    return max(sum(1 for t in times[i:] if t < start + seconds) for i, start in enumerate(times))


def test_thirty_days_of_coinbase_history_survive_a_killed_worker_within_coinbases_budget(coinbase_world, processes):
    minutes, four_hours = coinbase_world
    simulator, running = processes
    control(simulator, "/control/rest-429", {"count": 2})
    first = running.worker("w1", queues="backfill")
    jobs = [
        create_job("candles", starlisting_id=s.id, start=at(BEGIN), end=at(END), source="api", database=DB)
        for s in (minutes, four_hours)
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

    minutes_job, hours_job = (BackfillJob.objects.using(DB).get(id=j.id) for j in jobs)
    expected = truth("1m")
    assert 30 * 1440 * 0.9 < len(expected) < 30 * 1440  # quiet minutes have no candle, on Coinbase as here
    assert stored_candles(minutes) == expected
    assert stored_candles(four_hours) == truth("4h") and len(truth("4h")) == 180
    # Resumed from its checkpoint: every row written once, however the kill fell.
    assert minutes_job.attempts == 2 and minutes_job.rows_written == len(expected)
    assert hours_job.rows_written == 180
    # Coinbase's budget, read from what the exchange saw: never more than the burst plus the rate.
    log = [e for e in control(simulator, "/control/rest-log") if "/candles" in e["path"]]
    assert sum(entry["status"] == 429 for entry in log) == 2
    assert sum(j.rate_limited for j in (minutes_job, hours_job)) == 2
    for seconds in (1, 3):
        assert most_requests_in(log, seconds) <= BURST + RATE / 60 * seconds
    windows = -(-30 * 1440 // 350) + -(-30 * 12 // 350)  # 1m in windows of 350, and the 2h parts of the 4h candles
    asked = {(e["query"]["granularity"], e["query"]["start"]) for e in log}
    assert len(asked) >= windows
    assert len(log) <= len(asked) + 2 + 2 + 2  # again: a page per 429 and each job's page in flight at the kill
    assert Budget("hyperliquid").state()["rate_limited"] == 0 and Budget("coinbase").state()["rate_limited"] == 2
