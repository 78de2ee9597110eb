"""The Coinbase REST candle client against the simulator: 350 per request, intervals built exactly, 429s, the tape."""

import asyncio
import json
import time
from decimal import Decimal

import aiohttp
import pytest

from apps.collectors.exchanges.coinbase import history
from apps.collectors.exchanges.coinbase.parser import TradeCandles
from apps.collectors.simulator import coinbase as simulated
from apps.collectors.simulator.testing import sync
from apps.markets import intervals
from lib.budget import Budget
from lib.redis import client as redis_client
from tests.collectors.harness import SEED, control, start_simulator

MINUTE, HOUR, DAY = 60_000, 3_600_000, 86_400_000


@pytest.fixture(scope="module")
def simulator():
    # Virtual time ten days behind the wall clock, so every candle asked for below is complete.
    start = (int(time.time() * 1000) - 10 * DAY) // DAY * DAY
    handle = start_simulator(start_ms=start, speed=0.001, update_interval=60, ctx_interval=60)
    yield handle
    handle.stop()


def now_of(simulator):
    return control(simulator, "/control/stats")["virtual_now_ms"]


def rows(pages):
    return [(c.open_ms, c.open, c.high, c.low, c.close, c.volume) for page in pages for c in page]


def test_minutes_page_forward_350_at_a_time_and_equal_the_tape(simulator):
    end = now_of(simulator) // DAY * DAY
    start = end - DAY - 10 * MINUTE

    pages = list(history.candle_pages("BTC-USD", "1m", start, end, url=simulator.url))

    requests = [r for r in control(simulator, "/control/rest-log") if "/BTC-USD/candles" in r["path"]]
    assert len(requests) == 5  # 1450 minutes in windows of 350
    assert all(int(r["query"]["end"]) - int(r["query"]["start"]) < 350 * 60 for r in requests)
    assert rows(pages) == simulated.truth_candles(SEED, "BTC-USD", "1m", start, end)
    assert len(rows(pages)) < 1450  # minutes without trades are absent, as on Coinbase
    assert all(c.closed for page in pages for c in page)


@pytest.mark.parametrize("interval", ["3m", "4h", "1w"])
def test_intervals_coinbase_does_not_publish_are_built_exactly_from_published_ones(simulator, interval):
    end = now_of(simulator) // DAY * DAY
    start = end - (9 * DAY if interval == "1w" else 2 * DAY)

    got = rows(history.candle_pages("ETH-USD", interval, start, end, url=simulator.url))

    closed_before = intervals.floor(interval, end)  # the candle still open at ``end`` is not a whole one
    assert [r for r in got if r[0] < closed_before] == simulated.truth_candles(
        SEED, "ETH-USD", interval, start, closed_before
    )
    assert got


def test_a_candle_is_closed_only_once_its_interval_has_ended(simulator):
    end = now_of(simulator) // HOUR * HOUR
    last_hour = end - HOUR

    pages = list(history.candle_pages("BTC-USD", "1h", end - 5 * HOUR, end, url=simulator.url, now_ms=last_hour + 1))

    candles = [c for page in pages for c in page]
    assert candles[-1].open_ms == last_hour and not candles[-1].closed
    assert all(c.closed for c in candles[:-1]) and len(candles) == 5


def test_history_begins_where_coinbase_has_nothing_before(simulator):
    end = now_of(simulator) // MINUTE * MINUTE
    found = history.earliest_candle_ms("BTC-USD", "1m", end, url=simulator.url)

    # The oldest candle with trades in the 350 minutes before ``end``: one request, paid once.
    assert found == simulated.truth_candles(SEED, "BTC-USD", "1m", end - 350 * MINUTE, end)[0][0]


def test_the_simulator_refuses_more_than_350_candles_as_coinbase_does(simulator):
    end = now_of(simulator) // MINUTE * MINUTE
    with pytest.raises(history.HistoryError, match="350"):
        history.get("BTC-USD", {"start": (end - 351 * MINUTE) // 1000, "end": end // 1000,
                                "granularity": "ONE_MINUTE"}, url=simulator.url)  # fmt: skip


def test_a_429_pauses_coinbase_only_and_is_raised_for_the_job_to_resume(simulator, settings):
    settings.KIRBY_REST_429_PAUSE_SECONDS = 0.2
    redis_client().delete("kirby:budget:coinbase", "kirby:budget:bybit")
    control(simulator, "/control/rest-429", {"count": 1})
    coinbase, bybit = Budget("coinbase"), Budget("bybit")

    with pytest.raises(history.RateLimited) as raised:
        list(history.candle_pages("BTC-USD", "1h", 0, HOUR, url=simulator.url, budget=coinbase))

    assert raised.value.retry_after == 1
    assert coinbase.state()["rate_limited"] == 1 and bybit.state()["rate_limited"] == 0
    redis_client().delete("kirby:budget:coinbase", "kirby:budget:bybit")


@sync
async def test_candles_built_from_the_simulated_stream_equal_its_rest_candles():
    # Fast virtual time from a whole minute: three closed minutes take about three seconds.
    start = (int(time.time() * 1000) - DAY) // MINUTE * MINUTE
    handle = start_simulator(start_ms=start, speed=60, update_interval=0.02, coins=("BTC",))
    builder = TradeCandles(lambda: {("BTC-USD", "1m"): [1], ("ETH-USD", "5m"): [2]}, grace_ms=500)
    closed = []
    try:
        async with aiohttp.ClientSession() as session:
            ws = await session.ws_connect(handle.coinbase_ws_url)
            for channel in ("market_trades", "heartbeats"):
                await ws.send_str(json.dumps({"type": "subscribe", "channel": channel, "product_ids": ["BTC-USD"]}))
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 15
            while len([c for c in closed if c.complete]) < 3 and loop.time() < deadline:
                message = await ws.receive(timeout=max(0.01, deadline - loop.time()))
                events = builder.feed(message.data)
                assert all(getattr(e, "kind", None) != "resync" for e in events)
                closed += [e for e in events if getattr(e, "update", None) is not None and e.update.closed]
            await ws.close()
    finally:
        handle.stop()
    complete = [c.update for c in closed if c.complete]
    assert len(complete) >= 3
    truth = dict(
        (t, rest) for t, *rest in simulated.truth_candles(SEED, "BTC-USD", "1m", start, complete[-1].open_ms + 1)
    )
    for candle in complete:
        assert [candle.open, candle.high, candle.low, candle.close, candle.volume] == truth[candle.open_ms]
    assert builder.late == 0 and isinstance(complete[0].volume, Decimal)
