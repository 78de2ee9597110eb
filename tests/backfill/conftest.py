"""An exchange simulator for backfill tests, and a fresh REST budget for each test.

The default simulator's clock is all but frozen at ``START`` (2025-03-20
12:04:30 UTC), so every candle and funding row before it is final and the
truth is fixed: ``Market(SEED)`` computes it. The in-process runner reads
the simulator because KIRBY_HYPERLIQUID_REST_URL points at it.
"""

from datetime import UTC, datetime

import pytest

from apps.collectors.simulator.config import SimulatorConfig
from apps.collectors.simulator.market import Market
from apps.collectors.simulator.server import run_in_thread
from lib.redis import client as redis_client

SEED = 42
MINUTE, HOUR = 60_000, 3_600_000
START = int(datetime(2025, 3, 20, 12, 4, 30, tzinfo=UTC).timestamp() * 1000)
FROZEN = {"port": 0, "speed": 0.001, "start_ms": START, "seed": SEED, "coins": ("BTC", "SOL")}


def at(ms):
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def truth(coin, interval, start_ms, end_ms):
    """{open time: (open, high, low, close, volume, trades)} of the simulator's candles in [start, end)."""
    return {
        at(c.open_time): (c.open, c.high, c.low, c.close, c.volume, c.trades)
        for c in Market(SEED).candles(coin, interval, start_ms, end_ms)
    }


def stored(starlisting):
    from apps.marketdata.models import Candle

    rows = Candle.objects.filter(starlisting=starlisting).order_by("time")
    assert all(row.closed for row in rows)
    return {r.time: (r.open, r.high, r.low, r.close, r.volume, r.num_trades) for r in rows}


@pytest.fixture
def exchange(settings):
    """``exchange(**config overrides)`` starts a simulator the runner reads from; all stopped afterwards."""
    handles = []

    def start(**overrides):
        handles.append(run_in_thread(SimulatorConfig(**{**FROZEN, **overrides})))
        settings.KIRBY_HYPERLIQUID_REST_URL = f"{handles[-1].url}/info"
        return handles[-1]

    yield start
    for handle in handles:
        handle.stop()


@pytest.fixture(autouse=True)
def fresh_budget(settings):
    """A budget generous enough that tests wait only where they mean to (429 pauses of 0.2 s)."""
    settings.KIRBY_REST_WEIGHT_PER_MINUTE = {"hyperliquid": 120_000}
    settings.KIRBY_REST_429_PAUSE_SECONDS = 0.2
    settings.KIRBY_REST_RECOVERY_SECONDS = 60
    redis_client().delete("kirby:budget:hyperliquid")
    yield
    redis_client().delete("kirby:budget:hyperliquid")
