"""/metrics scraped from a real web process (Daphne) and a real collector worker, against what happened.

The collector worker collects from the exchange simulator; faults injected
there (malformed frames, a dropped connection) must show in its metrics with
the exact counts, and the rows it stored must equal the cluster-wide ingest
counter of the dashboard. The web process serves keyed requests, rate-limit
refusals and WebSocket clients, and its status document counts the
connections of every web process.
"""

import asyncio
import json
import urllib.error
import urllib.request

import aiohttp
import pytest

from apps.access.models import ADMIN, READ
from apps.collectors.stream_documents import stream_statuses
from apps.marketdata.models import Candle
from apps.operations.status import build_status
from lib.metrics import INGESTED_KEY
from lib.redis import client as redis_client
from tests.collectors.harness import control, processes_running, simulator_running
from tests.conftest import make_key
from tests.operations.scrape import names, scrape, value
from tests.streaming.servers import Daphne, server_port, subscribe
from tests.waiting import wait_for

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

BTC_1M = "/candles/hyperliquid/BTC/USD/perps/1m"
KIRBY_METRICS = {
    "kirby_messages_received_total", "kirby_records_written_total", "kirby_rows_rejected_total",
    "kirby_batch_flush_duration_seconds_count", "kirby_stream_last_message_timestamp_seconds",
    "kirby_stream_connected", "kirby_stream_reconnects_total", "kirby_ingest_lag_seconds", "kirby_gaps_open",
    "kirby_backfill_rows_total", "kirby_backfill_jobs", "kirby_ws_connections", "kirby_ws_messages_sent_total",
    "kirby_ws_messages_dropped_total", "kirby_cache_hits_total", "kirby_cache_misses_total",
    "kirby_cache_refreshes_total", "kirby_cache_errors_total",
    "kirby_rate_limit_rejections_total",
}  # fmt: skip


@pytest.fixture
def simulator():
    with simulator_running() as handle:
        yield handle


@pytest.fixture
def processes(simulator, tmp_path):
    with processes_running(simulator, tmp_path) as running:
        yield running


def test_a_collector_worker_exposes_what_it_received_stored_and_survived(world_committed, simulator, processes):
    world = world_committed
    port = server_port()
    processes.env["KIRBY_METRICS_PORT"] = str(port)
    processes.worker()
    del processes.env["KIRBY_METRICS_PORT"]  # beat would serve its own on the same port
    processes.beat()
    url = f"http://127.0.0.1:{port}/metrics"
    wait_for(lambda: Candle.objects.filter(starlisting=world.btc_1m, closed=True).count() >= 2, 40, "candles")

    def stream():
        return stream_statuses().get("hyperliquid/0", {})

    control(simulator, "/control/malformed", {"count": 6})
    wait_for(lambda: stream().get("malformed", 0) >= 6, 10, "malformed frames counted")
    reconnects = stream()["reconnects"]
    control(simulator, "/control/drop", {})
    wait_for(lambda: stream().get("reconnects", 0) > reconnects and stream().get("connected"), 15, "a reconnect")

    seen = []

    def settled():
        """Metrics that agree with Redis's ingest counter (nothing was stored between two scrapes)."""
        first = scrape(url)
        ingested = int(redis_client().get(INGESTED_KEY) or 0)
        second = scrape(url)
        written = [
            sum(value(samples, "kirby_records_written_total", exchange="hyperliquid", type=kind) or 0
                for kind in ("candles", "funding", "open_interest"))
            for samples in (first, second)
        ]  # fmt: skip
        seen.append((written, ingested))
        return written[0] == written[1] == ingested and (second, stream())

    try:
        samples, doc = wait_for(settled, 30, "metrics that agree with Redis")
    except AssertionError as error:
        raise AssertionError(f"{error}; last (written, ingested): {seen[-5:]}") from None
    status = build_status()
    processes.stop_all()

    # The same processes, as the status document sees them.
    assert [(w["name"].split("@")[0], w["queues"], w["pool"]) for w in status["celery"]["workers"]] == [
        ("w1", ["collectors", "default"], "thread")
    ]
    assert status["celery"]["state"] == "green"
    assert status["beat"]["state"] == "green" and status["beat"]["last_task"]
    assert status["streams"]["items"][0]["name"] == "hyperliquid/0"

    assert value(samples, "kirby_messages_received_total", exchange="hyperliquid", type="malformed") == 6
    assert value(samples, "kirby_messages_received_total", exchange="hyperliquid", type="candle") > 0
    assert value(samples, "kirby_messages_received_total", exchange="hyperliquid", type="asset_ctx") > 0
    # The stream reports its document every 2 s: the counter may be ahead of it, never behind.
    assert value(samples, "kirby_stream_reconnects_total", exchange="hyperliquid") >= doc["reconnects"] >= 1
    assert value(samples, "kirby_stream_connected", stream="hyperliquid/0") == 1
    last = value(samples, "kirby_stream_last_message_timestamp_seconds", stream="hyperliquid/0")
    assert abs(last - doc["last_message_at"]) < 5
    candles_written = value(samples, "kirby_records_written_total", exchange="hyperliquid", type="candles")
    assert candles_written >= Candle.objects.count() > 0  # every stored row was written once, updates on top
    assert value(samples, "kirby_rows_rejected_total", exchange="hyperliquid", type="candles") is None
    assert value(samples, "kirby_batch_flush_duration_seconds_count", type="candles") > 0
    assert 0 <= value(samples, "kirby_ingest_lag_seconds", exchange="hyperliquid") < 5
    assert {"kirby_gaps_open", "kirby_backfill_rows_total", "kirby_backfill_jobs"} <= names(samples)


def get(url, key):
    """(status, body) of a GET with an API key."""
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


async def _clients(daphne, key, starlisting_id, count):
    session = aiohttp.ClientSession()
    url = f"ws://127.0.0.1:{daphne.port}/ws?api_key={key}"
    sockets = [await subscribe(session, url, [starlisting_id]) for _ in range(count)]
    return session, sockets


def test_a_web_process_exposes_requests_cache_rate_limits_and_websocket_clients(world_committed, tmp_path):
    world = world_committed
    reader = make_key("reader")
    limited = make_key("limited", rate_limit=2)
    admin = make_key("root", scopes=[READ, ADMIN])
    daphne = Daphne(tmp_path / "daphne.log", KIRBY_SERIES_CACHE_SECONDS="600")
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(daphne.ready())
        base = f"http://127.0.0.1:{daphne.port}"
        before = scrape(base + "/metrics")
        assert [get(base + BTC_1M, reader)[0] for _ in range(5)] == [200] * 5
        # Fixed one-minute windows: a window may end between two requests, so count what was refused.
        refused = [get(base + "/starlistings", limited)[0] for _ in range(6)].count(429)
        assert refused >= 2
        session, sockets = loop.run_until_complete(_clients(daphne, reader, world.btc_1m.id, 3))
        loop.run_until_complete(sockets[0].close())
        wait_for(lambda: value(scrape(base + "/metrics"), "kirby_ws_connections") == 2, 10, "2 open connections")

        after = scrape(base + "/metrics")
        status = json.loads(get(base + "/api/status", admin)[1])
        for socket_ in sockets[1:]:
            loop.run_until_complete(socket_.close())
        loop.run_until_complete(session.close())
    finally:
        daphne.stop()
        loop.close()

    def grew(name, **labels):
        return (value(after, name, **labels) or 0) - (value(before, name, **labels) or 0)

    # Labelled per stream or exchange, these appear once something was collected (the worker's test).
    collected = {"kirby_stream_connected", "kirby_stream_last_message_timestamp_seconds", "kirby_ingest_lag_seconds",
                 "kirby_messages_received_total", "kirby_records_written_total", "kirby_rows_rejected_total",
                 "kirby_stream_reconnects_total"}  # fmt: skip
    assert KIRBY_METRICS - collected <= names(after)
    # Five reads of the newest candles: the first computes the answer (one fresh series lookup), four are cached;
    # the first /starlistings answer is computed, the others that passed the rate limit are cached.
    assert grew("kirby_cache_misses_total", cache="responses") == 2
    assert grew("kirby_cache_hits_total", cache="responses") == 4 + (6 - refused - 1)
    assert grew("kirby_cache_misses_total", cache="series") == 1
    assert grew("kirby_cache_hits_total", cache="series") == 0
    assert grew("kirby_rate_limit_rejections_total", subject="key") == refused
    assert grew("kirby_ws_messages_sent_total") >= 3  # a success reply per client
    assert value(after, "kirby_ws_connections") == 2
    assert grew("django_http_requests_total_by_method_total", method="GET") >= 9
    assert status["websocket"]["connections"] == 2 and status["websocket"]["processes"] == 1
