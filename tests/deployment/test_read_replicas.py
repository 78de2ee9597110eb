"""Read replicas for real: a throwaway primary cluster, a streaming standby made from it with
pg_basebackup, and a gunicorn process with DATABASE_REPLICA_URLS pointing at the standby.

The primary gets the test database's schema; its rows are written by a Django process of its own,
through the write path, so the test database of the suite is left untouched.
"""

import json
import subprocess
import sys
import time

import pytest
import requests

from tests.deployment.stack import ROOT, gunicorn
from tests.faults.cluster import Cluster
from tests.processes import database_url
from tests.streaming.servers import server_environment

# The suite's test database must exist (the primary copies its schema); the tests leave it unchanged.
pytestmark = pytest.mark.django_db

CANDLES = "/candles/hyperliquid/BTC/USD/perps/1m"
# When the last query reading the candles table started, by the clients of one cluster.
CANDLES_QUERY = "SELECT max(query_start) FROM pg_stat_activity WHERE datname = 'kirby' AND query LIKE %s"

# Run in a process whose DATABASE_URL is the primary: argv[1] "setup" makes the world and two keys
# (printed as JSON), "candle N" writes the candle of minute N.
WRITER = """
import json, sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import django

django.setup()
from apps.marketdata.records import CandleRecord
from apps.marketdata.writer import write_candles
from apps.markets.models import Starlisting
from tests.conftest import World, make_key

start = datetime(2026, 11, 20, 5, 0, tzinfo=UTC)


def write(starlisting_id, n):
    price = Decimal(100 + n)
    write_candles([CandleRecord(starlisting_id, start + timedelta(minutes=n), price, price, price, price,
                                Decimal(1), n, True)], publish=False)


if sys.argv[1] == "setup":
    world = World()
    for n in range(3):
        write(world.btc_1m.id, n)
    print(json.dumps({"read": make_key("reader", unlimited=True),
                      "admin": make_key("operator", scopes=["read", "admin"], unlimited=True)}))
else:
    write(Starlisting.objects.get(trading_pair__coin__symbol="BTC", interval__name="1m").id, int(sys.argv[2]))
"""


class Replicated:
    def __init__(self, primary, replica, web, keys):
        self.primary, self.replica, self.web, self.keys = primary, replica, web, keys

    @property
    def base(self):
        return f"http://127.0.0.1:{self.web.port}"

    def run_writer(self, *args):
        env = server_environment(DATABASE_URL=self.primary.url())
        done = subprocess.run([sys.executable, "-c", WRITER, *args], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=60)  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout

    def get(self, path, key="read"):
        return requests.get(f"{self.base}{path}", headers={"Authorization": f"Bearer {self.keys[key]}"}, timeout=15)

    def replica_state(self):
        (replica,) = self.get("/api/status", key="admin").json()["database"]["replicas"]
        return replica

    def wait_for(self, condition, what, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.replica_state()
            if condition(state):
                return state
            time.sleep(0.1)
        raise AssertionError(f"the replica never became {what}: {state}")

    def last_candles_query(self, cluster):
        return cluster.query(CANDLES_QUERY, ("%FROM candles%",))[0][0]


def basebackup(primary, replica):
    """``replica`` as a streaming standby of ``primary``: its data directory copied, recovery settings written (-R)."""
    replica._run("pg_basebackup", "-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres",
                 "-D", str(replica.data), "-R", "-X", "stream", "--checkpoint=fast", "--no-sync")  # fmt: skip


@pytest.fixture(scope="module")
def replicated(tmp_path_factory, django_db_setup, django_db_blocker):
    root = tmp_path_factory.mktemp("replicas")
    primary, replica, web = Cluster().init(), Cluster(), None
    try:
        primary.start()
        with django_db_blocker.unblock():
            primary.load(database_url())  # the suite's schema and seed rows (intervals)
        # gunicorn starts meanwhile: until its check finds the standby, it reads from the primary.
        web = gunicorn(
            root / "gunicorn.log",
            workers=1,
            DATABASE_URL=primary.url(),
            DATABASE_REPLICA_URLS=replica.url(),
            KIRBY_REPLICA_MAX_LAG_SECONDS="1",
            KIRBY_REPLICA_CHECK_SECONDS="0.2",
            KIRBY_CACHE_ENABLED="false",  # every read reaches a database
            KIRBY_USAGE_FLUSH_SECONDS="0.2",
        )
        setup = Replicated(primary, replica, web, {})
        setup.keys = json.loads(setup.run_writer("setup").strip().splitlines()[-1])
        basebackup(primary, replica)
        replica.start()
        web.ready()
        yield setup
    finally:
        if web is not None:
            web.stop()
        replica.destroy()
        primary.destroy()


def test_the_read_api_is_served_by_the_replica_and_writes_go_to_the_primary(replicated):
    state = replicated.wait_for(lambda state: state["serving"], "serving")
    # Within the limit (1 s here); the standby may still be replaying the usage rows the primary just flushed.
    assert 0 <= state["lag_seconds"] <= 1 and state["reason"] == f"lag {state['lag_seconds']:.1f} s"
    before = replicated.last_candles_query(replicated.replica)

    response = replicated.get(f"{CANDLES}?limit=10")

    assert response.status_code == 200 and len(response.json()["data"]) == 3
    after = replicated.last_candles_query(replicated.replica)
    assert after is not None and (before is None or after > before), "the candles were not read on the replica"
    # The request's usage row is written to the primary (a standby could not take it).
    deadline = time.monotonic() + 10
    while replicated.primary.query("SELECT count(*) FROM access_apikeyusage")[0][0] == 0:
        assert time.monotonic() < deadline, "no usage row reached the primary"
        time.sleep(0.1)


def test_a_lagging_replica_is_skipped_until_it_catches_up(replicated):
    replicated.wait_for(lambda state: state["serving"], "serving")
    replicated.replica.query("SELECT pg_wal_replay_pause()")
    try:
        replicated.run_writer("candle", "3")  # reaches the standby's WAL, not its tables
        skipped = replicated.wait_for(lambda state: not state["serving"], "skipped")
        assert skipped["lag_seconds"] > 1 and "lags" in skipped["reason"]
        before = replicated.last_candles_query(replicated.replica)

        response = replicated.get(f"{CANDLES}?limit=10")

        # Only the primary has the fourth candle: the answer is up to date, and the replica was not asked.
        assert response.status_code == 200 and len(response.json()["data"]) == 4
        assert replicated.last_candles_query(replicated.replica) == before
        metrics = requests.get(f"{replicated.base}/metrics", timeout=10).text
        assert 'kirby_replica_serving{replica="replica1"} 0.0' in metrics
    finally:
        replicated.replica.query("SELECT pg_wal_replay_resume()")
    replicated.wait_for(lambda state: state["serving"], "serving again")


def test_a_stopped_replica_is_skipped_and_reads_are_answered_by_the_primary(replicated):
    replicated.wait_for(lambda state: state["serving"], "serving")
    replicated.replica.stop()
    try:
        down = replicated.wait_for(lambda state: not state["serving"], "skipped")
        assert down["reason"].startswith("unreachable")
        status = replicated.get("/api/status", key="admin").json()["database"]
        assert status["state"] == "amber" and "replica replica1 unreachable" in status["reason"]

        responses = [replicated.get(f"{CANDLES}?limit=10") for _ in range(5)]

        assert [response.status_code for response in responses] == [200] * 5
    finally:
        replicated.replica.start()
    replicated.wait_for(lambda state: state["serving"], "serving again")
