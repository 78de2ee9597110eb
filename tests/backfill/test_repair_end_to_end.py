"""The collector is killed for several (simulated) minutes and restarted: Kirby repairs the hole by itself.

Real processes throughout: the simulator publishes a market at 60 times real
speed (a simulated minute per second), a Celery worker runs the stream and
the backfill queue, beat runs the supervisors and the gap scan. The
simulator's REST pages hold 3 candles, so the reconnect repair (2 pages)
cannot cover the hole alone and a backfill job must finish it.
"""

import signal
import time
from datetime import timedelta

import pytest

from apps.backfill.completeness import completeness
from apps.backfill.models import BackfillJob, Gap
from apps.marketdata.models import Candle
from apps.operations.samples import take_sample
from tests.collectors.harness import processes_running, simulator_running, wait_for
from tests.collectors.test_collection_end_to_end import assert_closed_candles_exact, closed_count, series

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

MINUTE = timedelta(minutes=1)
QUEUES = "collectors,default,backfill"
FAST_REPAIR = {
    "KIRBY_GAP_SCAN_SECONDS": "2",
    "KIRBY_GAP_SETTLE_SECONDS": "3",
    "KIRBY_BACKFILL_SUPERVISE_SECONDS": "1",
    "KIRBY_BACKFILL_LEASE_SECONDS": "2",
    "KIRBY_BACKFILL_RETRY_SECONDS": "1",
    "KIRBY_HYPERLIQUID_REST_WEIGHT_PER_MINUTE": "100000",
}


@pytest.fixture
def simulator():
    with simulator_running(page_limit=3) as handle:
        yield handle


@pytest.fixture
def processes(simulator, tmp_path):
    with processes_running(simulator, tmp_path, **FAST_REPAIR) as running:
        yield running


def whole(client, starlisting, path, killed_from):
    """(closed candles exact and contiguous, the downtime gap repaired, completeness 1.0) or None."""
    gaps = Gap.objects.filter(starlisting=starlisting, reason="downtime", start_time__lte=killed_from + MINUTE)
    if not gaps.exists() or gaps.exclude(status="repaired").exists():
        return None
    closed, _ = series(client, path)
    first, last = closed[0]["time"], closed[-1]["time"]
    start = Candle.objects.filter(starlisting=starlisting, time__gte=first).order_by("time").first().time
    end = Candle.objects.get(starlisting=starlisting, time=last).time + MINUTE
    ratio = completeness(starlisting.id, "1m", int(start.timestamp() * 1000), int(end.timestamp() * 1000))["ratio"]
    return (closed, list(gaps)) if ratio == 1.0 else None


def test_a_killed_collector_leaves_no_hole_once_restarted(client, world_committed, simulator, processes):
    world = world_committed
    worker = processes.worker("w1", queues=QUEUES)
    processes.beat()
    wait_for(lambda: closed_count(world.btc_1m) >= 3 and closed_count(world.sol_1m) >= 3, 40, "first candles")

    worker.send_signal(signal.SIGKILL)
    worker.wait()
    killed = [Candle.objects.filter(starlisting=s).latest("time").time for s in (world.btc_1m, world.sol_1m)]
    time.sleep(8)  # eight simulated minutes, plus the lease's lapse, without a collector
    restarted = time.monotonic()
    processes.worker("w2", queues=QUEUES)

    btc = wait_for(lambda: whole(client, world.btc_1m, "/candles/hyperliquid/BTC/USD/perps/1m", killed[0]),
                   110, "the BTC hole repaired")  # fmt: skip
    sol = wait_for(lambda: whole(client, world.sol_1m, "/candles/hyperliquid/SOL/USD/perps/1m", killed[1]),
                   110 - (time.monotonic() - restarted), "the SOL hole repaired")  # fmt: skip
    assert time.monotonic() - restarted < 120
    processes.stop_all()

    closed, gaps = btc
    assert_closed_candles_exact(closed, "BTC", "1m")  # none missing, none duplicated, exact values
    assert_closed_candles_exact(sol[0], "SOL", "1m")
    [downtime] = [g for g in gaps if g.start_time <= killed[0] + MINUTE < g.end_time]
    assert downtime.end_time - downtime.start_time >= 8 * MINUTE and downtime.repaired_at is not None
    assert downtime.job is not None and downtime.job.status == "succeeded"  # finished by a backfill job
    assert BackfillJob.objects.filter(starlisting=world.btc_1m).count() == 1
    take_sample(force=True)  # what beat's status sampler does every KIRBY_STATUS_SAMPLE_SECONDS
    health = client.get("/health").json()["completeness"]
    assert health["hyperliquid/BTC/USD/perps/1m"]["ratio"] == 1.0
    assert health["hyperliquid/SOL/USD/perps/1m"]["ratio"] == 1.0
    assert client.get("/gaps", {"coin": "BTC", "data_type": "candles", "status": "open"}).json()["count"] == 0
