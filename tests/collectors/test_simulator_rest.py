"""The simulator's Hyperliquid ``POST /info`` and its truth endpoint, over real HTTP."""

from datetime import UTC, datetime

import aiohttp
import pytest

from apps.collectors.simulator.config import SimulatorConfig
from apps.collectors.simulator.context import funding_rate
from apps.collectors.simulator.market import Market
from apps.collectors.simulator.server import run_in_thread
from apps.collectors.simulator.testing import Client, sync

MINUTE, HOUR = 60_000, 3_600_000
START = int(datetime(2025, 3, 20, 12, 4, 30, tzinfo=UTC).timestamp() * 1000)
SLOW = {"port": 0, "speed": 0.001, "start_ms": START, "seed": 42, "page_limit": 50, "history_limit": 200}


@pytest.fixture
def simulator():
    handles = []

    def start(**overrides):
        handles.append(run_in_thread(SimulatorConfig(**{**SLOW, **overrides})))
        return handles[-1]

    yield start
    for handle in handles:
        handle.stop()


async def info(session, handle, body):
    async with session.post(f"{handle.url}/info", json=body) as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def all_pages(session, handle, coin, interval, start, end=2**53):
    """Page like a collector: from the last open time + 1 until a page brings nothing new.

    Like the real venue, a page starts with the candle containing ``startTime``, so each page
    after the first repeats the previous page's last candle.
    """
    pages = []
    for _ in range(100):
        req = {"coin": coin, "interval": interval, "startTime": start, "endTime": end}
        page = await info(session, handle, {"type": "candleSnapshot", "req": req})
        if not page or page[-1]["t"] < start:
            return pages
        pages.append(page)
        start = page[-1]["t"] + 1
    raise AssertionError("paging never ended")


@sync
async def test_candle_snapshot_pages_add_up_to_the_market_truth_within_the_history_limit(simulator):
    handle = simulator()
    open_minute = START - START % MINUTE
    async with aiohttp.ClientSession() as session:
        pages = await all_pages(session, handle, "BTC", "1m", START - 2 * 24 * HOUR)

    candles = list({candle["t"]: candle for page in pages for candle in page}.values())
    earliest = open_minute - 199 * MINUTE
    closed = [c.to_wire() for c in Market(42).candles("BTC", "1m", earliest, open_minute)]
    assert [len(page) for page in pages[:-1]] == [50] * (len(pages) - 1) and len(pages[-1]) <= 50
    assert all(page[0] == previous[-1] for previous, page in zip(pages, pages[1:]))
    assert candles[:-1] == closed
    assert candles[-1] == Market(42).candle("BTC", "1m", open_minute, until_ms=START).to_wire()
    assert candles[-1]["n"] < Market(42).candle("BTC", "1m", open_minute).trades


@sync
async def test_candle_snapshot_starts_with_the_candle_containing_the_start_time_and_stops_at_the_end(simulator):
    handle = simulator()
    start, end = START - 5 * HOUR - 20 * MINUTE, START - 2 * HOUR - MINUTE
    async with aiohttp.ClientSession() as session:
        req = {"coin": "kPEPE", "interval": "1h", "startTime": start, "endTime": end}
        candles = await info(session, handle, {"type": "candleSnapshot", "req": req})

    first = start - start % HOUR
    assert candles == [c.to_wire() for c in Market(42).candles("kPEPE", "1h", first, end)]
    assert [c["t"] for c in candles] == [first + i * HOUR for i in range(5)]


@sync
async def test_candle_snapshot_serves_nothing_after_virtual_now(simulator):
    handle = simulator()
    async with aiohttp.ClientSession() as session:
        req = {"coin": "ETH", "interval": "1m", "startTime": START + HOUR, "endTime": START + 2 * HOUR}
        assert await info(session, handle, {"type": "candleSnapshot", "req": req}) == []


@sync
async def test_funding_history_is_hourly_with_jitter_paged_and_never_ahead_of_virtual_now(simulator):
    handle = simulator()
    pages, start = [], START - 120 * HOUR
    async with aiohttp.ClientSession() as session:
        while page := await info(session, handle, {"type": "fundingHistory", "coin": "ETH", "startTime": start}):
            pages.append(page)
            start = page[-1]["time"] + 1

    records = [record for page in pages for record in page]
    hours = [record["time"] // HOUR * HOUR for record in records]
    first_hour = (START - 120 * HOUR) // HOUR * HOUR + HOUR
    assert [len(page) for page in pages] == [50, 50, 20]
    assert hours == list(range(first_hour, START // HOUR * HOUR + HOUR, HOUR))
    assert all(0 <= record["time"] % HOUR < 100 for record in records)
    assert len({record["time"] % HOUR for record in records}) > 10
    assert all(r["time"] <= handle.state.clock.now_ms() for r in records)
    for record, hour in zip(records, hours):
        assert record["coin"] == "ETH"
        assert (record["fundingRate"], record["premium"]) == funding_rate(42, "ETH", hour)


@sync
async def test_meta_lists_the_configured_coins_and_those_subscribed_to(simulator):
    handle = simulator(coins=("BTC", "ETH"))
    async with aiohttp.ClientSession() as session:
        client = await Client.connect(session, handle.ws_url)
        await client.subscribe({"type": "activeAssetCtx", "coin": "kPEPE"})
        meta = await info(session, handle, {"type": "meta"})
        meta_again, ctxs = await info(session, handle, {"type": "metaAndAssetCtxs"})

    assert [asset["name"] for asset in meta["universe"]] == ["BTC", "ETH", "kPEPE"]
    assert meta["universe"][0] == {"name": "BTC", "szDecimals": 5, "maxLeverage": 40}
    assert meta_again == meta
    assert len(ctxs) == 3 and all(ctx["markPx"] and ctx["funding"] for ctx in ctxs)


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        ("not json", "application/json"),
        ("[]", "application/json"),
        ('{"coin": "BTC"}', "application/json"),
        ('{"type": "allTheMoney"}', "application/json"),
        ('{"type": "candleSnapshot"}', "application/json"),
        ('{"type": "candleSnapshot", "req": {"coin": "BTC", "interval": "2m", "startTime": 0}}', "application/json"),
        ('{"type": "candleSnapshot", "req": {"coin": "BTC", "interval": "1m", "startTime": "0"}}', "application/json"),
        ('{"type": "fundingHistory", "startTime": 0}', "application/json"),
        ('{"type": "meta"}', "text/plain"),
    ],
)
@sync
async def test_a_bad_info_request_is_refused_with_http_400_and_a_reason(simulator, data, content_type):
    handle = simulator()
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{handle.url}/info", data=data, headers={"Content-Type": content_type}) as response:
            status, reason = response.status, await response.text()

    assert status == 400
    assert reason


@sync
async def test_the_truth_endpoint_serves_the_closed_candles_of_the_market(simulator):
    handle = simulator()
    start = START - 3 * HOUR
    async with aiohttp.ClientSession() as session:
        params = {"coin": "xyz:TSLA", "interval": "15m", "start": start, "end": START + HOUR}
        async with session.get(f"{handle.url}/truth/candles", params=params) as response:
            truth = await response.json()

    open_quarter = START - START % (15 * MINUTE)
    assert truth == [c.to_wire() for c in Market(42).candles("xyz:TSLA", "15m", start, open_quarter)]
    assert truth[-1]["t"] == open_quarter - 15 * MINUTE
