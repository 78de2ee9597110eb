"""The response cache of the read API (lib/cache.py) and HTTP caching, against real Redis and PostgreSQL."""

import logging
import re
import threading
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from prometheus_client import REGISTRY

from apps.marketdata.writer import write_candles
from lib import cache
from tests.conftest import candle, keyed_client, make_key, utc
from tests.faults.redis_server import private_redis

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

URL = "/candles/hyperliquid/BTC/USD/perps/1m"
T0 = utc(2026, 1, 5)


def counted(name):
    return REGISTRY.get_sample_value(f"kirby_cache_{name}_total", {"cache": "responses"})


def minutes(response):
    return [item["time"][11:16] for item in response.json()["data"]]


class CandleQueries:
    """Counts the reads of candles this thread's connection runs (one answer is one or two queries:
    apps.marketdata.queries looks in a recent stretch first), and the series lookups that start each."""

    def __init__(self):
        self.count = self.lookups = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += "FROM candles" in sql
        self.lookups += "FROM trading_pairs" in sql
        return execute(sql, params, many, context)


def test_reads_through_the_cache_are_never_stale_and_revalidate_with_etags(world_committed):
    client = keyed_client(make_key())
    write_candles([candle(world_committed.btc_1m, T0 + timedelta(minutes=i)) for i in range(3)])
    hits, misses, refreshes = counted("hits"), counted("misses"), counted("refreshes")

    first = client.get(URL, {"limit": 2})
    again = client.get(URL, {"limit": 2})
    assert minutes(first) == minutes(again) == ["00:01", "00:02"]
    assert (counted("misses") - misses, counted("hits") - hits) == (1, 1)
    assert again["Cache-Control"] == "no-cache" and again["ETag"] == first["ETag"]

    # A write followed at once by a read: the new row, through the cache (the entry was dropped on commit).
    write_candles([candle(world_committed.btc_1m, T0 + timedelta(minutes=3), close="107")])
    assert counted("refreshes") - refreshes == 1
    after = client.get(URL, {"limit": 2})
    assert minutes(after) == ["00:02", "00:03"] and after.json()["data"][-1]["close"] == "107"
    assert client.get(URL, {"limit": 2}).json() == after.json()  # and that answer is cached in turn
    assert counted("misses") - misses == 2

    # The newest candles can still change: a 304 only while the ETag is still the answer.
    assert client.get(URL, {"limit": 2}, headers={"If-None-Match": first["ETag"]}).status_code == 200
    unchanged = client.get(URL, {"limit": 2}, headers={"If-None-Match": after["ETag"]})
    assert unchanged.status_code == 304 and unchanged.content == b"" and unchanged["ETag"] == after["ETag"]

    # A window of closed candles in the past: a long public max-age, and a 304 without PostgreSQL.
    window = {"start_time": "2026-01-05T00:00:00Z", "end_time": "2026-01-05T00:03:00Z"}
    past = client.get(URL, window)
    assert minutes(past) == ["00:00", "00:01", "00:02"]
    assert past["Cache-Control"] == "public, max-age=31536000"
    queries = CandleQueries()
    with connection.execute_wrapper(queries):
        revalidated = client.get(URL, window, headers={"If-None-Match": past["ETag"]})
    assert revalidated.status_code == 304 and revalidated["Cache-Control"] == "public, max-age=31536000"
    assert queries.count == 0

    # Keys and rate limits apply to 304s as to any request.
    assert Client().get(URL, window, headers={"If-None-Match": past["ETag"]}).status_code == 401
    limited = keyed_client(make_key("limited", rate_limit=2))
    statuses = [limited.get(URL, window, headers={"If-None-Match": past["ETag"]}).status_code for _ in range(6)]
    assert statuses[0] == 304 and 429 in statuses  # two a minute (six requests see at most one new window)

    # A starlisting change is visible at once: in the starlisting's own answers and in its candles.
    reader = keyed_client(make_key("other"))
    assert reader.get(f"/starlistings/{world_committed.btc_1m.id}").json()["active"] is True
    listed = reader.get("/starlistings")
    assert world_committed.btc_1m.id in [item["id"] for item in listed.json()["starlistings"]]
    world_committed.btc_1m.active = False
    world_committed.btc_1m.save()
    assert reader.get(f"/starlistings/{world_committed.btc_1m.id}").json()["active"] is False
    assert world_committed.btc_1m.id not in [item["id"] for item in reader.get("/starlistings").json()["starlistings"]]
    assert reader.get(URL, {"limit": 2}).status_code == 400

    # The counts, cluster-wide, in /api/status and on the dashboard.
    status = keyed_client(make_key("root", scopes=["read", "admin"])).get("/api/status").json()["cache"]
    assert status["state"] == "green" and status["hits"] >= 3 and status["misses"] >= 2
    assert status["refreshes"] >= 2 and status["used_memory_bytes"] > 0
    staff = Client()
    staff.force_login(get_user_model().objects.create_user("operator", password="x", is_staff=True))
    row = re.search(r'<tr data-name="cache".*?</tr>', staff.get("/dashboard").content.decode()).group(0)
    assert "Response cache" in row and "hits " in row and "refreshes " in row


def test_concurrent_misses_of_one_key_make_one_database_query(world_committed, settings):
    # No keys: fifty key checks would hold the connection pool (10) while the readers wait for the one.
    settings.KIRBY_AUTH_REQUIRED = False
    write_candles([candle(world_committed.btc_1m, T0 + timedelta(minutes=i)) for i in range(5)])
    hits, misses = counted("hits"), counted("misses")
    start = threading.Barrier(50)
    queries, lookups, bodies = [], [], []

    def read():
        counter = CandleQueries()
        try:
            with connection.execute_wrapper(counter):
                start.wait()
                bodies.append(Client().get(URL, {"limit": 4}).content)
        finally:
            queries.append(counter.count)
            lookups.append(counter.lookups)
            connection.close()

    threads = [threading.Thread(target=read) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sum(lookups) == 1 and 1 <= sum(queries) <= 2 and len([n for n in queries if n]) == 1
    assert len(bodies) == 50 and len(set(bodies)) == 1 and b"2026-01-05T00:04:00Z" in bodies[0]
    assert (counted("misses") - misses, counted("hits") - hits) == (1, 49)


def test_with_redis_stopped_reads_go_to_postgres_and_the_outage_is_logged_once(world_committed, settings, caplog):
    client = keyed_client(make_key())
    write_candles([candle(world_committed.btc_1m, T0)])
    with private_redis() as redis_server:
        settings.KIRBY_CACHE_URL = redis_server.url
        cache._client.cache_clear()
        cache._store_script.cache_clear()
        try:
            assert minutes(client.get(URL)) == ["00:00"]
            hits = counted("hits")
            assert minutes(client.get(URL)) == ["00:00"] and counted("hits") == hits + 1
            errors = counted("errors")

            redis_server.stop()
            caplog.set_level(logging.WARNING, logger="lib.cache")
            write_candles([candle(world_committed.btc_1m, T0 + timedelta(minutes=1))])  # its invalidation fails
            for _ in range(3):
                response = client.get(URL)
                assert response.status_code == 200 and minutes(response) == ["00:00", "00:01"]
            cache._outage.retry_at = 0  # the next call tries Redis again at once instead of after RETRY_SECONDS
            assert minutes(client.get(URL)) == ["00:00", "00:01"]
            assert counted("errors") - errors >= 4
            assert len([r for r in caplog.records if "unavailable" in r.getMessage()]) == 1
            admin = keyed_client(make_key("root", scopes=["read", "admin"]))
            assert admin.get("/api/status").json()["cache"]["state"] == "amber"

            redis_server.start()  # back (empty): the cache serves again, the outage's end is logged
            cache._outage.retry_at = 0
            assert minutes(client.get(URL)) == ["00:00", "00:01"]
            assert minutes(client.get(URL)) == ["00:00", "00:01"]
            assert counted("hits") > hits + 1
            assert any("available again" in r.getMessage() for r in caplog.records)
        finally:
            redis_server.stop()
            cache._client.cache_clear()
            cache._store_script.cache_clear()
            cache._outage.down_since = None
