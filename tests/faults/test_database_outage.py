"""A database outage with the collector killed in the middle of it loses nothing.

Real processes: the exchange simulator, Celery workers running the stream
and beat, writing to a throwaway PostgreSQL cluster that the test stops and
starts. The first worker is SIGKILLed while the database is away; a second
one takes over. What the first one received during the outage was kept in
the Redis spool and is replayed when the database returns.
"""

import os
import signal
import time
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from apps.collectors import spool
from apps.collectors.simulator.market import Market
from apps.marketdata.records import CandleRecord, FundingRecord, OpenInterestRecord
from tests.collectors.harness import SEED, control, processes_running, simulator_running, truth_wire
from tests.faults.cluster import throwaway_cluster
from tests.processes import database_url
from tests.waiting import wait_for

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

OUTAGE_SECONDS = 10
# How long a row can live only in the collector's memory while the database is away: its period ends
# (KIRBY_CONTEXT_PERIOD_SECONDS, 1), it waits for the next flush (KIRBY_COLLECTOR_FLUSH_SECONDS, 1), and that
# flush's write waits for a connection (KIRBY_COLLECTOR_CONNECT_SECONDS, 1) before the batch is spooled.
IN_MEMORY_SECONDS = 3
KINDS = (CandleRecord, FundingRecord, OpenInterestRecord)


def count(cluster, sql, *params):
    try:
        return cluster.query(sql, params)[0][0]
    except Exception:  # the database is away
        return 0


def closed_candles(cluster, starlisting_id):
    return cluster.query(
        "SELECT time, open, high, low, close, volume, num_trades, closed FROM candles"
        " WHERE starlisting_id = %s ORDER BY time",
        (starlisting_id,),
    )


def assert_candles_equal_the_truth(cluster, starlisting_id, coin):
    rows = closed_candles(cluster, starlisting_id)
    assert [closed for *_, closed in rows[:-1]] == [True] * (len(rows) - 1), "an open candle before closed ones"
    closed = [row for row in rows if row[-1]]
    first, last = (int(row[0].timestamp() * 1000) for row in (closed[0], closed[-1]))
    truth = Market(SEED).candles(coin, "1m", first, last + 1)
    stored = [
        (int(t.timestamp() * 1000), {"open": o, "high": h, "low": lo, "close": c, "volume": v, "n": n})
        for t, o, h, lo, c, v, n, _ in closed
    ]
    assert stored == [(c.open_time, truth_wire(c)) for c in truth]


def number(*values):
    return tuple(None if value is None else Decimal(value) for value in values)


def assert_context_rows_complete_and_sent(cluster, simulator, pair_id, coin, until):
    """A funding and an open-interest row for every period up to ``until``, each as the simulator sent it."""
    sent = [entry["ctx"] for entry in control(simulator, f"/control/ctx-log?coin={coin}")]
    funding_sent = {number(c["funding"], c["premium"], c["markPx"], c["oraclePx"], c["midPx"]) for c in sent}
    oi_sent = {number(c["openInterest"], c["dayBaseVlm"], c["dayNtlVlm"]) for c in sent}
    funding = cluster.query(
        "SELECT time, funding_rate, premium, mark_price, oracle_price, mid_price FROM funding_rates"
        " WHERE trading_pair_id = %s ORDER BY time",
        (pair_id,),
    )
    interest = cluster.query(
        "SELECT time, open_interest, day_base_volume, day_notional_volume FROM open_interest"
        " WHERE trading_pair_id = %s ORDER BY time",
        (pair_id,),
    )
    assert all(row[1:] in funding_sent for row in funding)
    assert all(row[1:] in oi_sent for row in interest)
    for rows in (funding, interest):
        seconds = [int(row[0].timestamp()) for row in rows if row[0] <= until]
        missing = sorted(set(range(seconds[0], int(until.timestamp()) + 1)) - set(seconds))
        assert not missing, f"{coin}: periods lost: {[datetime.fromtimestamp(s, UTC) for s in missing]}"
    return funding, interest


@contextmanager
def logs_on_failure(processes):
    try:
        yield
    except AssertionError as error:
        raise AssertionError(f"{error}\n{processes.logs()}") from None


def test_a_database_outage_with_the_collector_killed_loses_nothing(world_committed, tmp_path):
    world = world_committed
    with throwaway_cluster() as cluster, simulator_running() as simulator:
        cluster.load(database_url())
        with (
            processes_running(simulator, tmp_path, DATABASE_URL=cluster.url()) as processes,
            logs_on_failure(processes),
        ):
            first = processes.worker("w1")
            processes.beat()
            wait_for(
                lambda: count(cluster, "SELECT count(*) FROM candles WHERE closed") >= 4
                and count(cluster, "SELECT count(*) FROM open_interest") >= 6,
                60,
                "candles and open interest stored before the outage",
            )

            cluster.stop()
            outage_started = datetime.now(UTC)
            # The kill comes right after the outage begins: the collector's first write must not wait for
            # the pool's whole timeout (KIRBY_DB_POOL_TIMEOUT) holding its batch in memory, but fail fast
            # (KIRBY_COLLECTOR_CONNECT_SECONDS) and spool it. A period that began with the outage has ended, been
            # flushed and spooled (IN_MEMORY_SECONDS) a second before the kill, so it must be in the spool.
            time.sleep(IN_MEMORY_SECONDS + 1)
            os.kill(first.pid, signal.SIGKILL)
            killed_at = datetime.now(UTC)
            first.wait(10)
            processes.worker("w2")
            time.sleep(OUTAGE_SECONDS - IN_MEMORY_SECONDS - 1)
            cluster.start()

            wait_for(lambda: not any(spool.waiting(kind) for kind in KINDS), 60, "the spool replayed", interval=0.5)
            wait_for(
                lambda: count(cluster, "SELECT count(*) FROM candles WHERE closed AND time > %s", killed_at) >= 2,
                60,
                "the second worker to collect",
            )
            processes.stop_all()
            logs = processes.logs()

        assert not any(spool.waiting(kind) for kind in KINDS)
        for starlisting, coin in ((world.btc_1m, "BTC"), (world.sol_1m, "SOL")):
            assert_candles_equal_the_truth(cluster, starlisting.id, coin)
        # What the first worker held only in memory at the kill may be lost: the periods of its last
        # IN_MEMORY_SECONDS.
        for pair, coin in ((world.btc_pair, "BTC"), (world.sol_pair, "SOL")):
            funding, interest = assert_context_rows_complete_and_sent(
                cluster, simulator, pair.id, coin, killed_at.replace(microsecond=0) - _seconds(IN_MEMORY_SECONDS)
            )
            during = [row for row in interest if outage_started < row[0] < killed_at]
            assert len(during) >= 1, "rows received during the outage were lost"
        assert "replayed" in logs


def _seconds(n):
    from datetime import timedelta

    return timedelta(seconds=n)
