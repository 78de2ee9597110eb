"""A book whose connection is down is not served as current, then is rebuilt by the next connection.

Per venue rebuild rule (Hyperliquid: every push is a whole book; Binance: a REST depth snapshot; Coinbase:
the level2 snapshot of the new subscription), a stream runs against the simulator over real sockets in a
thread of the test, as in a collector worker. The simulator then goes silent: the stream's connection goes
quiet, is replaced, and the replacement hears nothing either, so the connection stays down. Meanwhile GET
/orderbook answers 503 with "connection lost; reconnecting" (the old book is never served as current); once
the simulator speaks again the book is in sync and equals the simulator's true book at its time.

A collector process SIGKILLed cannot mark anything: its last book stays in Redis marked in sync, and the
API refuses it once it is older than KIRBY_BOOK_STALE_SECONDS.
"""

import os
import re
import signal
from datetime import datetime

import pytest

from apps.collectors.exchanges import get_adapter
from apps.collectors.plan import connections_needed
from apps.marketdata import live_books
from tests.collectors.harness import (
    BinanceWorld,
    CoinbaseWorld,
    collect_ticks,
    control,
    ms,
    processes_running,
    simulator_running,
    streams_running,
)
from tests.waiting import wait_for

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)
DEPTH = 20
LOST = "connection lost; reconnecting"
HYPERLIQUID = ("hyperliquid", "BTC", "USD", "perps")


def _hyperliquid(request, simulator, settings):
    collect_ticks(request.getfixturevalue("world_committed").btc_pair, trades=False)
    settings.KIRBY_HYPERLIQUID_WS_URL = simulator.ws_url
    settings.KIRBY_HYPERLIQUID_REST_URL = f"{simulator.url}/info"

    def truth(time_ms):
        levels = control(simulator, f"/truth/book?coin=BTC&time={time_ms}")["levels"]
        return [[[x["px"], x["sz"]] for x in side[:DEPTH]] for side in levels]

    return HYPERLIQUID, truth


def _binance(request, simulator, settings):
    world = BinanceWorld()
    collect_ticks(world.btc_perp, trades=False)
    settings.KIRBY_BINANCE_USDM_WS_URL = simulator.binance_usdm_ws_url
    settings.KIRBY_BINANCE_USDM_PUBLIC_WS_URL = simulator.binance_usdm_public_ws_url
    settings.KIRBY_BINANCE_SPOT_WS_URL = simulator.binance_spot_ws_url
    settings.KIRBY_BINANCE_USDM_REST_URL = settings.KIRBY_BINANCE_SPOT_REST_URL = simulator.url

    def truth(time_ms):
        book = control(simulator, f"/truth/book?exchange=binance-usdm&coin=BTCUSDT&time={time_ms}")
        return [book["bids"][:DEPTH], book["asks"][:DEPTH]]

    return ("binance", "BTC", "USDT", "perps"), truth


def _coinbase(request, simulator, settings):
    collect_ticks(CoinbaseWorld().btc_usd, trades=False)
    settings.KIRBY_COINBASE_WS_URL = simulator.coinbase_ws_url
    settings.KIRBY_COINBASE_REST_URL = simulator.url

    def truth(time_ms):
        book = control(simulator, f"/truth/book?exchange=coinbase&coin=BTC-USD&time={time_ms}")
        return [book["bids"][:DEPTH], book["asks"][:DEPTH]]

    return ("coinbase", "BTC", "USD", "spot"), truth


def depth_fetches(simulator):
    return sum(1 for e in control(simulator, "/control/rest-log") if e["path"] == "/fapi/v1/depth")


@pytest.mark.parametrize("venue", [_hyperliquid, _binance, _coinbase], ids=["wait", "rest", "resubscribe"])
def test_a_book_is_not_served_while_its_connection_is_down_and_is_rebuilt_after(
    venue, request, transactional_db, client, settings
):
    with simulator_running(coins=("BTC",)) as simulator:
        names, truth = venue(request, simulator, settings)
        settings.KIRBY_COLLECTOR_QUIET_SECONDS = 1.5
        settings.KIRBY_BOOK_STALE_SECONDS = 600  # only the lost connection may refuse the book here
        settings.KIRBY_COLLECTOR_BACKOFF_MAX_SECONDS = 0.5
        path = "/orderbook/{}/{}/{}/{}".format(*names)
        adapter = get_adapter(names[0])
        with streams_running(names[0], connections=connections_needed(adapter), books=[names]) as streams:
            wait_for(lambda: client.get(path).status_code == 200, 20, "the book served")

            control(simulator, "/control/silence", {"seconds": 600})
            down = wait_for(lambda: (r := client.get(path)).status_code == 503 and r, 10, "the book refused", 0.05)
            # Held down: every stream has connected again (to a silent venue) and given up on it again since.
            reconnects = [s.status.doc["reconnects"] for s in streams]
            for stream, before in zip(streams, reconnects, strict=True):
                wait_for(lambda s=stream, b=before: s.status.doc["reconnects"] >= b + 2, 15, "reconnects")
            held, fetched_before = client.get(path), depth_fetches(simulator)

            control(simulator, "/control/silence", {"seconds": 0})
            back = wait_for(lambda: (r := client.get(path, {"depth": DEPTH})).status_code == 200 and r, 20, "back")
            fetched_after = depth_fetches(simulator)
        book = back.json()["data"]
        true_book = truth(ms(datetime.fromisoformat(book["time"])))

    detail = f"The order book of {path[len('/orderbook/') :]} is not in sync with the venue: {LOST}"
    assert down.json()["detail"] == detail
    assert held.status_code == 503 and held.json()["detail"] == detail
    assert [book["bids"], book["asks"]] == true_book and len(book["bids"]) == DEPTH
    # Binance's book starts again from a REST snapshot; the others from what the new connection pushes.
    assert fetched_after > fetched_before > 0 if names[0] == "binance" else fetched_after == 0


def test_the_book_of_a_killed_collector_is_refused_once_older_than_the_stale_bound(
    world_committed, client, settings, tmp_path
):
    collect_ticks(world_committed.btc_pair, trades=False)
    settings.KIRBY_BOOK_STALE_SECONDS = 2
    path = "/orderbook/{}/{}/{}/{}".format(*HYPERLIQUID)
    with simulator_running(coins=("BTC",)) as simulator, processes_running(simulator, tmp_path) as processes:
        worker = processes.worker("w1")
        processes.beat()
        served = wait_for(lambda: (r := client.get(path)).status_code == 200 and r, 60, "the book served")
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(10)
        refused = wait_for(lambda: (r := client.get(path)).status_code == 503 and r, 15, "the book refused")
        in_redis = live_books.get_book(*HYPERLIQUID)
        live_books.client().delete(live_books.book_key(*HYPERLIQUID))

    assert served.json()["metadata"]["in_sync"] is True
    assert in_redis["in_sync"] is True  # the killed collector said nothing: only the age tells
    detail = refused.json()["detail"]
    assert re.fullmatch(
        r"The order book of hyperliquid/BTC/USD/perps is not in sync with the venue: no update for (\d+) s: its"
        r" collector is away",
        detail,
    ), detail
    assert int(re.search(r"for (\d+) s", detail)[1]) >= 2
