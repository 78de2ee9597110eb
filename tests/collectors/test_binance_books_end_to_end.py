"""Binance USD-M and spot order books (and USD-M aggregate trades) from the simulator over real sockets.

Streams for every Binance connection the plan asks for (spot; USD-M /market for trades; USD-M /public for
depth) run in a thread of the test with the real batcher, into PostgreSQL and Redis. Books start from
REST depth snapshots the streams fetch themselves. The simulator then breaks the books as Binance can:
a skipped depth event while REST snapshots fail for a while (the API says 503 with the reason until the
book is rebuilt), a crossed book, a snapshot older than the buffered events, dropped connections. Every
stored snapshot must equal the simulator's true book at its time, and the trade tape must be stored
exactly: what was pushed while a stream reconnected is read back from REST aggTrades.
"""

from datetime import UTC, datetime

import pytest
from prometheus_client import REGISTRY

from apps.collectors.exchanges import get_adapter
from apps.collectors.plan import connections_needed
from apps.marketdata import live_books
from apps.marketdata.models import Trade
from tests.collectors.harness import (
    BinanceWorld,
    collect_ticks,
    control,
    more_trades,
    ms,
    simulator_running,
    stored_snapshots,
    stored_tape,
    streams_running,
    text_levels,
)
from tests.waiting import wait_for

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)
PERP, SPOT = ("binance", "BTC", "USDT", "perps"), ("binance", "BTC", "USDT", "spot")
DEPTH = 5


def resyncs():
    return REGISTRY.get_sample_value("kirby_orderbook_resyncs_total", {"exchange": "binance"}) or 0.0


def rebuilt_after(names, moment):
    """The pair's current book is in sync again and was published after ``moment`` (time.time())."""
    book = live_books.get_book(*names)
    return book is not None and book["in_sync"] and book["published_at"] > moment


@pytest.fixture
def world(transactional_db, django_db_serialized_rollback):
    world = BinanceWorld()
    collect_ticks(world.btc_perp, depth=DEPTH)
    collect_ticks(world.btc_spot, trades=False, depth=DEPTH)
    return world


def test_binance_books_equal_the_true_book_and_rebuild_from_rest_after_every_break(world, client, settings):
    with simulator_running() as simulator:
        settings.KIRBY_BINANCE_USDM_WS_URL = simulator.binance_usdm_ws_url
        settings.KIRBY_BINANCE_USDM_PUBLIC_WS_URL = simulator.binance_usdm_public_ws_url
        settings.KIRBY_BINANCE_SPOT_WS_URL = simulator.binance_spot_ws_url
        settings.KIRBY_BINANCE_USDM_REST_URL = settings.KIRBY_BINANCE_SPOT_REST_URL = simulator.url
        settings.KIRBY_COLLECTOR_BACKOFF_MAX_SECONDS = 0.5
        assert connections_needed(get_adapter("binance")) == 3  # spot, USD-M /market (trades), USD-M /public (depth)
        with streams_running("binance", connections=3, books=[PERP, SPOT]) as streams:
            for pair in (world.btc_perp, world.btc_spot):
                wait_for(lambda p=pair: len(stored_snapshots(p)) >= 3, 20, f"snapshots of {pair}")
            wait_for(lambda: Trade.objects.count() >= 5, 20, "trades stored")

            # A skipped USD-M depth event while REST depth fails three times: out of sync, with the reason.
            before, started = resyncs(), datetime.now(UTC).timestamp()
            control(simulator, "/control/book-fault", {"venue": "binance-usdm", "kind": "lost-snapshot", "count": 3})
            control(simulator, "/control/book-fault", {"venue": "binance-usdm", "kind": "gap", "count": 1})
            unavailable = wait_for(
                lambda: (r := client.get("/orderbook/binance/BTC/USDT/perps")).status_code == 503 and r, 10,
                "the API to refuse the broken book", interval=0.05,
            )  # fmt: skip
            assert "sequence gap" in unavailable.json()["detail"]
            wait_for(lambda: rebuilt_after(PERP, started), 15, "the USD-M book rebuilt")
            assert resyncs() >= before + 1
            answered = client.get("/orderbook/binance/BTC/USDT/perps", {"depth": DEPTH})
            assert answered.status_code == 200 and len(answered.json()["data"]["bids"]) == DEPTH
            depth_calls = [e for e in control(simulator, "/control/rest-log") if e["path"] == "/fapi/v1/depth"]
            assert [e["status"] for e in depth_calls[-4:]] == [503, 503, 503, 200]
            asked = [e["at"] for e in depth_calls[-4:]]
            assert all(later - earlier > 0.8 for earlier, later in zip(asked, asked[1:]))  # once a second at most

            # Spot: a crossed book, then a snapshot older than the events buffered since.
            for kind in ("crossed", "stale-snapshot"):
                before, started = resyncs(), datetime.now(UTC).timestamp()
                control(simulator, "/control/book-fault", {"venue": "binance-spot", "kind": kind, "count": 1})
                if kind == "stale-snapshot":  # the next snapshot is fetched after a break: make one
                    control(simulator, "/control/book-fault", {"venue": "binance-spot", "kind": "gap", "count": 1})
                breaks = 2 if kind == "stale-snapshot" else 1
                wait_for(lambda b=before + breaks: resyncs() >= b, 10, f"{kind} seen")
                wait_for(lambda s=started: rebuilt_after(SPOT, s), 15, f"the spot book rebuilt after {kind}")

            # Dropped connections: the books resync on the new connections.
            control(simulator, "/control/drop", {})
            started = datetime.now(UTC).timestamp()
            wait_for(lambda: all(s.status.doc["reconnects"] >= 1 for s in streams), 15, "every stream reconnected")
            for names in (PERP, SPOT):
                wait_for(lambda n=names: rebuilt_after(n, started), 15, f"{names} rebuilt after the reconnect")
            more_trades(4, "trades after the reconnect")
            counts = [len(stored_snapshots(p)) for p in (world.btc_perp, world.btc_spot)]
            for pair, count in zip((world.btc_perp, world.btc_spot), counts, strict=True):
                wait_for(lambda p=pair, c=count: len(stored_snapshots(p)) >= c + 3, 15, f"more snapshots of {pair}")
        truth = "/truth/book?exchange=binance-{}&coin=BTCUSDT&time={}"
        stored = {
            names: [(s, control(simulator, truth.format(market, ms(s.time)))) for s in stored_snapshots(pair)]
            for names, pair, market in ((PERP, world.btc_perp, "usdm"), (SPOT, world.btc_spot, "spot"))
        }
        trades = stored_tape()
        first, last = ms(trades[0][0]), ms(trades[-1][0])
        tape = control(simulator, f"/truth/trades?exchange=binance-usdm&coin=BTCUSDT&start={first}&end={last + 1}")
        read_back = [e for e in control(simulator, "/control/rest-log") if e["path"] == "/fapi/v1/aggTrades"]

    for names, pairs in stored.items():
        assert len(pairs) >= 9, names
        for snapshot, truth in pairs:
            assert text_levels(snapshot.bids) == truth["bids"][:DEPTH], (names, snapshot.time)
            assert text_levels(snapshot.asks) == truth["asks"][:DEPTH], (names, snapshot.time)
            assert snapshot.sequence == truth["lastUpdateId"]
    expected = [(datetime.fromtimestamp(t["T"] / 1000, UTC), str(t["a"]), t["p"], t["q"], "sell" if t["m"] else "buy")
                for t in tape]  # fmt: skip
    # Nothing missing across the reconnect (what the stream missed was read back from REST), nothing twice.
    assert trades == expected
    assert read_back and all(e["status"] == 200 for e in read_back)
