"""Binance books and trade read-back: the simulator's depth (WebSocket and REST) and the adapter's REST calls.

The simulator's diff-depth events, applied with Binance's rule on its REST snapshot, must give its true
book at every event; depth is served on USD-M's /public route only. The adapter fetches snapshots and
reads back aggregate trades from REST, paying Binance's weights.
"""

import asyncio
import json
import random
import threading

import aiohttp

from apps.collectors.exchanges import get_adapter
from apps.collectors.exchanges.binance import book, history, parser
from apps.collectors.exchanges.events import TradeUpdate
from apps.collectors.plan import BookRoute, Plan
from apps.collectors.simulator import binance, binance_book
from apps.collectors.simulator.testing import sync
from apps.collectors.stream import Stream
from apps.collectors.trade_gaps import TradeGaps
from lib.budget import Budget
from tests.collectors.harness import control, text_levels
from tests.collectors.test_binance_parser import Collected
from tests.collectors.test_simulator_binance import frames_until

SEED = 42


def test_depth_events_chain_from_any_snapshot_to_the_true_book_on_both_markets():
    rng = random.Random(7)
    for market, usdm in (("usdm", True), ("spot", False)):
        seed = binance.market_for(SEED, market).seed
        blocks = [17_800_000_000]
        for _ in range(300):  # pushes a few blocks apart, and a few a whole minute or more apart
            blocks.append(blocks[-1] + rng.choice([1, 2, 5, 30, 700]))
        events = [parser.parse_depth_update(binance_book.depth_event(seed, "BTC", "BTCUSDT", a, b, b * 100, usdm),
                                            market) for a, b in zip(blocks, blocks[1:])]  # fmt: skip
        local = book.new_book(f"{market}:BTCUSDT")
        for event in events[:6]:  # buffered while the snapshot is on its way
            local.delta(event)
        # The snapshot stands between the blocks of the fourth event: it bridges, the three before are dropped.
        snapshot = binance_book.rest_depth(seed, "BTC", "BTCUSDT", blocks[4] - 1, 0, 1000, usdm)
        local.snapshot(parser.parse_depth_snapshot(snapshot, f"{market}:BTCUSDT"))
        assert local.in_sync, local.reason
        for event, block in zip(events[6:], blocks[7:], strict=True):
            local.delta(event)
            truth = binance_book.book(seed, "BTC", block)
            assert local.in_sync and list(local.book.top(1000)) == [truth["bids"], truth["asks"]]
        assert local.breaks == 0
        sizes = sorted(len(e.bids) + len(e.asks) for e in events)
        assert sizes[len(sizes) // 2] < binance_book.LEVELS  # diffs, not whole books


@sync
async def test_usdm_depth_comes_from_the_public_route_only_and_a_gap_fault_breaks_the_chain(simulator):
    handle = simulator()
    depth = {"method": "SUBSCRIBE", "params": ["btcusdt@depth@100ms"], "id": 1}
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(handle.binance_usdm_ws_url) as ws:  # /market: acked, then nothing
            await ws.send_str(json.dumps(depth))
            assert await frames_until(ws, lambda f: "id" in f) == {"result": None, "id": 1}
            try:
                message = await ws.receive(timeout=0.5)
            except TimeoutError:
                message = None
            assert message is None
        async with session.ws_connect(handle.binance_usdm_public_ws_url) as ws:
            await ws.send_str(json.dumps(depth))
            events = [await frames_until(ws, lambda f: f.get("stream") == "btcusdt@depth@100ms") for _ in range(3)]
            control(handle, "/control/book-fault", {"venue": "binance-usdm", "kind": "gap", "count": 1})
            events += [await frames_until(ws, lambda f: f.get("stream") == "btcusdt@depth@100ms") for _ in range(2)]
    data = [e["data"] for e in events]
    assert all(d["e"] == "depthUpdate" and d["U"] == d["pu"] + 1 <= d["u"] for d in data)
    assert [d["pu"] for d in data[1:3]] == [d["u"] for d in data[:2]]
    assert any(later["pu"] != earlier["u"] for earlier, later in zip(data[2:], data[3:]))  # the skipped event


@sync
async def test_overlapping_connections_get_the_same_events_and_the_book_takes_each_once(simulator):
    handle = simulator()
    depth = {"method": "SUBSCRIBE", "params": ["btcusdt@depth@100ms"], "id": 1}
    received = []  # (connection, data) in arrival order

    async def listen(ws, label, count):
        for _ in range(count):
            received.append((label, (await frames_until(ws, lambda f: f.get("stream") == depth["params"][0]))["data"]))

    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(handle.binance_usdm_public_ws_url) as old:
            await old.send_str(json.dumps(depth))
            await listen(old, "old", 3)
            async with session.ws_connect(handle.binance_usdm_public_ws_url) as new:  # the replacement
                await new.send_str(json.dumps(depth))
                await asyncio.gather(listen(old, "old", 4), listen(new, "new", 4))
    by_id = {}
    for label, data in received:
        by_id.setdefault(data["u"], {})[label] = {k: v for k, v in data.items() if k != "E"}
    shared = [copies for copies in by_id.values() if len(copies) == 2]
    assert shared and all(copies["old"] == copies["new"] for copies in shared)

    seed = binance.market_for(SEED, "usdm").seed
    first = received[0][1]
    local = book.new_book("usdm:BTCUSDT")
    snapshot = binance_book.rest_depth(seed, "BTC", "BTCUSDT", first["T"] // binance_book.BLOCK_MS, 0, 1000, True)
    local.snapshot(parser.parse_depth_snapshot(snapshot, "usdm:BTCUSDT"))
    for _, data in received:
        local.delta(parser.parse_depth_update(data, "usdm"))
    truth = binance_book.book(seed, "BTC", max(d["T"] for _, d in received) // binance_book.BLOCK_MS)
    assert local.breaks == 0 and local.in_sync and list(local.book.top(1000)) == [truth["bids"], truth["asks"]]


def test_the_rest_snapshot_is_the_true_book_and_costs_binances_weight(simulator):
    handle = simulator()
    for name, market, path, weight in (("usdm:BTCUSDT", "usdm", "/fapi/v1/depth", 20),
                                       ("spot:BTCUSDT", "spot", "/api/v3/depth", 50)):  # fmt: skip
        snapshot = history.book_snapshot(name, url=handle.url)
        seed = binance.market_for(SEED, market).seed
        block = next(b for b in range(snapshot.sequence // 10 - 1, snapshot.sequence // 10 + 2)
                     if binance_book.update_id(seed, "BTCUSDT", b) == snapshot.sequence)  # fmt: skip
        truth = binance_book.book(seed, "BTC", block)
        assert text_levels(snapshot.bids) == truth["bids"]
        assert text_levels(snapshot.asks) == truth["asks"]
        logged = control(handle, "/control/rest-log")[-1]
        assert (logged["path"], logged["query"]["limit"], logged["weight"]) == (path, "1000", weight)


def test_trades_read_back_from_rest_are_the_tape_across_hours_and_full_pages(simulator):
    handle = simulator()
    now = control(handle, "/control/stats")["virtual_now_ms"]
    start, end = now - 3 * 3_600_000 - 123, now - 5_000  # hundreds of trades, over three hours
    pages = list(history.trade_pages("usdm:BTCUSDT", start, end, url=handle.url, limit=100))
    tape = control(handle, f"/truth/trades?exchange=binance-usdm&coin=BTCUSDT&start={start}&end={end}")
    trades = [t for page in pages for t in page]
    assert len(tape) > 300 and len(pages) >= 4
    assert [(t.trade_id, t.time_us // 1000, format(t.price, "f"), format(t.size, "f"), t.side) for t in trades] == [
        (str(t["a"]), t["T"], t["p"], t["q"], "sell" if t["m"] else "buy") for t in tape
    ]
    calls = [e for e in control(handle, "/control/rest-log") if e["path"] == "/fapi/v1/aggTrades"]
    assert all(e["status"] == 200 and e["weight"] == 20 for e in calls)
    assert "fromId" in calls[-1]["query"]


def test_a_trade_gap_is_the_window_between_the_connections_and_a_replay_makes_none():
    def trade(ms):
        return TradeUpdate("usdm:BTCUSDT", str(ms), 1, 1, "buy", ms * 1000)

    gaps = TradeGaps()
    assert gaps.seen(trade(1_000)) is None  # the first connection: nothing before it
    gaps.seen(trade(2_000))
    gaps.reconnected()
    assert gaps.seen(trade(9_000)) == ("usdm:BTCUSDT", 2_000, 9_000)
    assert gaps.seen(trade(9_500)) is None  # once per reconnect
    gaps.reconnected()
    assert gaps.seen(trade(8_000)) is None  # a venue replaying recent trades: nothing was missed


def test_books_waiting_for_a_snapshot_get_it_from_rest_two_at_a_time_paid_from_the_budget(simulator, settings):
    handle = simulator()
    settings.KIRBY_BINANCE_USDM_REST_URL = handle.url
    names = ["usdm:BTCUSDT", "usdm:ETHUSDT", "usdm:SOLUSDT"]
    stream = Stream(get_adapter("binance"), 0, Collected(), threading.Event())
    stream.plan = Plan(books={name: [BookRoute(k, ("binance", name, "USDT", "perps"), 5, 1.0)]
                              for k, name in enumerate(names)})  # fmt: skip
    budget = Budget("binance")
    budget_before = budget.state()["tokens"]

    async def refresh():
        stream.books.wanted.update(names)
        stream._fetch_books()
        first = sorted(stream._book_fetches)
        await asyncio.gather(*stream._book_fetches.values())
        stream._fetch_books()  # the third now; the first two have their snapshots
        second = sorted(stream._book_fetches)
        await asyncio.gather(*stream._book_fetches.values())
        stream.books.wanted.add(names[0])  # broke again at once: asked no sooner than a second later
        stream._fetch_books()
        return first, second, sorted(stream._book_fetches)

    first, second, third = asyncio.run(refresh())
    assert len(first) == 2 and second == sorted(set(names) - set(first)) and third == []
    assert not stream.books.wanted - {names[0]}
    for name in names:  # each book holds its snapshot and waits for the event that bridges it
        assert stream.books.states[name].book.snapshot_id is not None
    calls = [e for e in control(handle, "/control/rest-log") if e["path"] == "/fapi/v1/depth"]
    assert sorted(e["query"]["symbol"] for e in calls) == ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
    assert budget.state()["tokens"] < budget_before
