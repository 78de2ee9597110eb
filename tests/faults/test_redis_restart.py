"""Redis stopped and started under a running collector: collection recovers by itself and nothing stored is lost.

The collector's Redis (broker, leases, stream status, spool) is a private
redis-server the test stops for a few seconds and starts again, empty.
"""

import time
from datetime import UTC, datetime

import pytest

from apps.marketdata.models import Candle, FundingRate, OpenInterest
from tests.collectors.harness import processes_running, simulator_running
from tests.faults.redis_server import private_redis
from tests.faults.test_database_outage import assert_candles_equal_the_truth, logs_on_failure
from tests.waiting import wait_for

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


class TestDatabase:
    """The test database, read like the throwaway cluster of the outage test."""

    @staticmethod
    def query(sql, params=()):
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()


def rows(model):
    """The stored rows as (series, time, values..., [closed])."""
    fields = [f.attname for f in model._meta.concrete_fields if f.attname != "ingested_at"]
    return set(model.objects.values_list(*fields))


def test_a_redis_restart_under_the_collector_recovers_by_itself_and_loses_nothing(world_committed, tmp_path):
    world = world_committed
    with private_redis() as server, simulator_running() as simulator:
        env = {"KIRBY_TEST_REDIS_URL": server.url}
        with processes_running(simulator, tmp_path, **env) as processes, logs_on_failure(processes):
            processes.worker("w1")
            processes.beat()
            wait_for(
                lambda: Candle.objects.filter(closed=True).count() >= 4 and OpenInterest.objects.count() >= 4,
                60,
                "candles and open interest before Redis stops",
            )

            server.stop()
            time.sleep(4)
            stored_before = [rows(model) for model in (Candle, FundingRate, OpenInterest)]
            server.start()
            restarted_at = datetime.now(UTC)

            closed_at_restart = Candle.objects.filter(starlisting=world.btc_1m, closed=True).count()
            wait_for(
                lambda: Candle.objects.filter(starlisting=world.btc_1m, closed=True).count() >= closed_at_restart + 3
                # Context rows are timed by receipt (candles by the simulator's faster clock).
                and OpenInterest.objects.filter(trading_pair=world.sol_pair, time__gt=restarted_at).count() >= 3,
                60,
                "collection to resume after the restart",
            )
            processes.stop_all()

        candles_before, *context_before = stored_before
        candles_after, *context_after = [rows(model) for model in (Candle, FundingRate, OpenInterest)]
        # Nothing stored is lost or changed; only a candle open then may have closed since.
        assert {row for row in candles_before if row[-1]} <= candles_after
        assert {row[:2] for row in candles_before} <= {row[:2] for row in candles_after}
        assert all(before <= after for before, after in zip(context_before, context_after, strict=True))
        for starlisting, coin in ((world.btc_1m, "BTC"), (world.sol_1m, "SOL")):
            assert_candles_equal_the_truth(TestDatabase, starlisting.id, coin)
