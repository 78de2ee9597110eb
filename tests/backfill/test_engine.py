"""One history engine: a job, the collector's reconnect repair and the training backfill all page through it.

The engine counts every stored page in ``kirby_history_pages_total`` by
purpose, read here through Prometheus' public registry. Binance's REST
calls are paid from Binance's budget (its Redis bucket, read before and
after), and a job can fill a training-database starlisting: its row lives
there, its rows land there, the live database is untouched.
"""

import time

import pytest
from django.core.management import call_command
from prometheus_client import REGISTRY

from apps.backfill.completeness import completeness
from apps.backfill.jobs import create_job
from apps.backfill.models import BackfillJob, Gap
from apps.backfill.runner import run_job
from apps.backfill.tasks import supervise_backfills
from apps.backfill.training import fill_candles
from apps.collectors.exchanges import get_adapter
from apps.collectors.repair import repair_missed
from apps.collectors.simulator import binance as simulated
from apps.marketdata.models import Candle
from lib.budget import Budget
from lib.redis import client as redis_client
from lib.timeutil import from_ms
from tests.backfill.conftest import MINUTE, START, at, stored, truth
from tests.collectors.harness import SEED, start_simulator
from tests.training import BOTH, TRAINING, TrainingWorld

pytestmark = pytest.mark.django_db(databases=BOTH)

END = START - START % MINUTE - 60 * MINUTE  # every candle before it is final at the frozen simulator
HOUR = 60 * MINUTE
DAY = 24 * HOUR
MARCH_1_2020 = 1583020800000


def pages(purpose, exchange):
    return REGISTRY.get_sample_value("kirby_history_pages_total", {"purpose": purpose, "exchange": exchange}) or 0


@pytest.fixture(scope="module")
def binance_simulator():
    handle = start_simulator(start_ms=(int(time.time() * 1000) - 5 * DAY) // DAY * DAY, speed=60)
    yield handle
    handle.stop()


@pytest.fixture
def binance(binance_simulator, settings):
    settings.KIRBY_BINANCE_SPOT_REST_URL = binance_simulator.url
    settings.KIRBY_BINANCE_USDM_REST_URL = binance_simulator.url
    redis_client().delete("kirby:budget:binance")
    yield binance_simulator
    redis_client().delete("kirby:budget:binance")


def training_truth(market, interval, start_ms, end_ms):
    return [(*row, True) for row in simulated.truth(SEED, market, "BTCUSDT", interval, start_ms, end_ms)]


def training_stored(starlisting):
    rows = Candle.objects.using(TRAINING).filter(starlisting_id=starlisting.id).order_by("time")
    return [(int(c.time.timestamp() * 1000), c.open, c.high, c.low, c.close, c.volume, c.num_trades, c.closed)
            for c in rows]  # fmt: skip


def test_a_job_pages_through_the_engine(world, exchange):
    exchange(page_limit=50)
    job = create_job("candles", starlisting_id=world.btc_1m.id, start=at(END - 120 * MINUTE), end=at(END), source="api")
    before = pages("job", "hyperliquid")

    job = run_job(job.id)

    assert job.status == "succeeded" and job.pages == 3
    assert pages("job", "hyperliquid") - before == 3
    assert stored(world.btc_1m) == truth("BTC", "1m", END - 120 * MINUTE, END)


def test_the_reconnect_repair_runs_through_the_engine_and_settles_its_gap(world, exchange):
    """The collector only announces the hole; backfill's receiver pages it in, one type returned."""
    exchange()
    before = pages("repair", "hyperliquid")

    stored_rows = repair_missed(
        get_adapter("hyperliquid"), "BTC", "1m", [world.btc_1m.id], END - 10 * MINUTE, END, END + 30_000
    )

    assert stored_rows == 10
    assert pages("repair", "hyperliquid") - before == 1
    assert stored(world.btc_1m) == truth("BTC", "1m", END - 10 * MINUTE, END)
    gap = Gap.objects.get(starlisting=world.btc_1m)
    assert (gap.start_time, gap.end_time, gap.reason, gap.status) == (
        at(END - 10 * MINUTE),
        at(END),
        "downtime",
        "repaired",
    )


def test_a_series_never_collected_is_not_repaired_and_the_answer_is_still_a_count(world, exchange):
    exchange()

    assert repair_missed(get_adapter("hyperliquid"), "BTC", "1m", [world.btc_1m.id], None, None, END) == 0
    assert not Candle.objects.exists() and not Gap.objects.exists()


def test_the_training_backfill_pages_through_the_engine(binance):
    world = TrainingWorld()
    before = pages("training", "binance")

    call_command("backfill_training", "--intervals", "1h", "--start-time", "2020-03-01", "--end-time", "2020-03-02")

    assert pages("training", "binance") - before == 1
    assert training_stored(world.perp_1h) == training_truth("usdm", "1h", MARCH_1_2020, MARCH_1_2020 + DAY)


def test_binance_history_calls_are_charged_to_binances_budget(binance, settings):
    settings.KIRBY_REST_WEIGHT_PER_MINUTE = {"binance": 1}  # refills 1 weight a minute: what is spent stays spent
    world = TrainingWorld()
    budget = Budget("binance")
    assert budget.state()["tokens"] == 20  # a full bucket: 20 weight at least

    # One USD-M page of up to 1500 klines weighs 10; spot pages of 1000 weigh 2 each (2 pages for 1,440 minutes).
    fill_candles(world.perp_1h, from_ms(MARCH_1_2020), from_ms(MARCH_1_2020 + DAY), TRAINING)
    after_futures = budget.state()["tokens"]
    fill_candles(world.spot_1m, from_ms(MARCH_1_2020), from_ms(MARCH_1_2020 + DAY), TRAINING)
    after_spot = budget.state()["tokens"]

    assert after_futures == pytest.approx(10, abs=0.05)
    assert after_spot == pytest.approx(6, abs=0.05)
    assert Budget("hyperliquid").state()["tokens"] == Budget("hyperliquid").capacity  # nothing charged elsewhere


def test_a_job_fills_a_training_starlisting_and_lives_in_the_training_database(binance):
    world = TrainingWorld()
    before = pages("job", "binance")

    call_command(
        "backfill", "--exchange", "binance", "--coin", "btc", "--quote", "USDT", "--market-type", "perps",
        "--interval", "1h", "--start-time", "2020-03-01", "--end-time", "2020-03-02", "--database", "training",
    )  # fmt: skip

    job = BackfillJob.objects.using(TRAINING).get()
    assert (job.status, job.rows_written, job.database, job.starlisting_id) == (
        "succeeded",
        24,
        TRAINING,
        world.perp_1h.id,
    )
    assert pages("job", "binance") - before == 1
    assert training_stored(world.perp_1h) == training_truth("usdm", "1h", MARCH_1_2020, MARCH_1_2020 + DAY)
    assert completeness(world.perp_1h.id, "1h", MARCH_1_2020, MARCH_1_2020 + DAY, using=TRAINING)["ratio"] == 1.0
    assert not BackfillJob.objects.exists() and not Candle.objects.exists()  # the live database untouched


def test_a_training_job_runs_by_id_in_its_database(binance):
    world = TrainingWorld()
    job = create_job(
        "candles", starlisting_id=world.spot_1m.id, start=from_ms(MARCH_1_2020), end=from_ms(MARCH_1_2020 + 2 * HOUR),
        source="api", database=TRAINING, queue=False,
    )  # fmt: skip

    job = run_job(job.id, TRAINING)

    assert job.status == "succeeded" and job._state.db == TRAINING
    assert training_stored(world.spot_1m) == training_truth("spot", "1m", MARCH_1_2020, MARCH_1_2020 + 2 * HOUR)


def test_supervision_requeues_a_lost_job_of_the_training_database(binance):
    """A training job whose worker died (running, no lease) is sent to the workers again, with its database."""
    world = TrainingWorld()
    job = create_job(
        "candles", starlisting_id=world.perp_1h.id, start=from_ms(MARCH_1_2020), end=from_ms(MARCH_1_2020 + DAY),
        source="api", database=TRAINING, queue=False,
    )  # fmt: skip
    BackfillJob.objects.using(TRAINING).filter(id=job.id).update(status="running")
    try:
        assert supervise_backfills() == [f"training/{job.id}"]
        assert supervise_backfills() == []  # dispatched once per lease period, not at every beat
    finally:  # no worker of this test reads the message: leave none for later tests' workers
        redis_client().delete("backfill", f"kirby:dispatched:backfill/training/{job.id}")
