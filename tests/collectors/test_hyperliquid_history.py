"""The Hyperliquid REST history client against the simulator's /info (and a recorded response)."""

import json
from pathlib import Path

import pytest

from apps.collectors.exchanges.hyperliquid.history import RateLimited, candle_pages, funding_pages, parse_funding
from apps.collectors.simulator.market import Market
from tests.collectors.harness import SEED, control, start_simulator

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "exchanges" / "hyperliquid"
MINUTE, HOUR = 60_000, 3_600_000


@pytest.fixture(scope="module")
def simulator():
    handle = start_simulator(page_limit=100, update_interval=60, ctx_interval=60)
    yield handle
    handle.stop()


def now_ms(simulator):
    return control(simulator, "/control/stats")["virtual_now_ms"]


def test_candle_history_pages_through_long_ranges_exactly(simulator):
    end = now_ms(simulator) // MINUTE * MINUTE
    start = end - 450 * MINUTE

    pages = list(candle_pages("BTC", "1m", start, end, url=f"{simulator.url}/info"))

    assert len(pages) >= 5  # 100 candles per page
    got = [(c.open_ms, c.open, c.high, c.low, c.close, c.volume, c.num_trades) for page in pages for c in page]
    truth = [(c.open_time, c.open, c.high, c.low, c.close, c.volume, c.trades)
             for c in Market(SEED).candles("BTC", "1m", start, end)]  # fmt: skip
    assert got == truth


def test_funding_history_pages_and_floors_times_to_the_hour(simulator):
    end = now_ms(simulator) // HOUR * HOUR
    start = end - 300 * HOUR

    points = [p for page in funding_pages("BTC", start, end, url=f"{simulator.url}/info") for p in page]

    assert [p.time_ms for p in points] == list(range(start, end, HOUR))


def test_a_429_is_reported_as_rate_limited(simulator):
    control(simulator, "/control/rest-429", {"count": 1})

    with pytest.raises(RateLimited):
        list(candle_pages("BTC", "1m", 0, MINUTE * 10**8, url=f"{simulator.url}/info"))


def test_recorded_funding_history_parses_with_jitter_removed():
    items = json.loads((FIXTURES / "rest_fundingHistory.json").read_text())

    points = [parse_funding(item) for item in items]

    assert len(points) == 34
    assert all(p.time_ms % (8 * HOUR) == 0 for p in points)  # 8-hourly before mid-2023
    assert str(points[0].funding_rate) == "-0.00061334" and items[0]["time"] % HOUR == 48
