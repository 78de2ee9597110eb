"""``backfill_training`` pages Binance's history into the training database through the write path."""

import time
from datetime import UTC, datetime

import pytest
from django.core.management import call_command

from apps.backfill.training import fill_candles
from apps.collectors.simulator import binance as simulated
from apps.marketdata.models import Candle
from tests.collectors.harness import SEED, start_simulator
from tests.training import BOTH, TRAINING, TrainingWorld

pytestmark = pytest.mark.django_db(databases=BOTH)
DAY = 86_400_000


@pytest.fixture(scope="module")
def simulator():
    start = (int(time.time() * 1000) - 5 * DAY) // DAY * DAY
    handle = start_simulator(start_ms=start, speed=60, update_interval=60, ctx_interval=60)
    yield handle
    handle.stop()


@pytest.fixture
def binance_at_simulator(simulator, settings):
    settings.KIRBY_BINANCE_SPOT_REST_URL = simulator.url
    settings.KIRBY_BINANCE_USDM_REST_URL = simulator.url
    return simulator


def stored(starlisting):
    rows = Candle.objects.using(TRAINING).filter(starlisting_id=starlisting.id).order_by("time")
    return [
        (int(c.time.timestamp() * 1000), c.open, c.high, c.low, c.close, c.volume, c.num_trades, c.closed) for c in rows
    ]


def truth(market, interval, start_ms, end_ms):
    return [(*row, True) for row in simulated.truth(SEED, market, "BTCUSDT", interval, start_ms, end_ms)]


def test_perps_come_from_futures_klines_and_spot_from_spot_klines(binance_at_simulator, capsys):
    world = TrainingWorld()
    start, end = "2020-01-01T00:00:00Z", "2020-01-02T06:00:00Z"
    start_ms, end_ms = 1577836800000, 1577836800000 + 30 * 3_600_000

    call_command("backfill_training", "--start-time", start, "--end-time", end)

    assert stored(world.perp_1m) == truth("usdm", "1m", start_ms, end_ms)
    assert stored(world.perp_1h) == truth("usdm", "1h", start_ms, end_ms)
    assert stored(world.spot_1m) == truth("spot", "1m", start_ms, end_ms)
    assert not Candle.objects.exists()  # production untouched
    out = capsys.readouterr().out
    assert "binance/BTC/USDT/perps/1m: 1,500 candles up to 2020-01-02T00:59:00Z" in out  # progress per page
    assert "Backfilled 3 starlisting(s): 3,630 candles." in out


def test_a_second_backfill_of_the_same_window_rewrites_nothing(binance_at_simulator):
    world = TrainingWorld()
    start = datetime(2020, 2, 1, tzinfo=UTC)
    end = datetime(2020, 2, 1, 12, tzinfo=UTC)

    first = fill_candles(world.perp_1m, start, end, TRAINING)
    again = fill_candles(world.perp_1m, start, end, TRAINING)

    assert (first.received, first.inserted) == (720, 720)
    assert (again.received, again.inserted, again.updated) == (720, 0, 0)


def test_the_backfill_can_be_narrowed_to_some_intervals(binance_at_simulator):
    world = TrainingWorld()

    call_command("backfill_training", "--intervals", "1h", "--start-time", "2020-03-01", "--end-time", "2020-03-02")

    assert len(stored(world.perp_1h)) == 24
    assert stored(world.perp_1m) == [] and stored(world.spot_1m) == []
