"""The Bybit REST history client against the simulator's Bybit endpoints: paging, listing, 429s."""

import json
import time
import urllib.parse
import urllib.request
from decimal import Decimal

import pytest

from apps.collectors.exchanges.bybit import history
from apps.collectors.exchanges.bybit.parser import parse_kline_row
from apps.collectors.exchanges.events import ascending
from apps.collectors.simulator import bybit as simulated
from lib.budget import Budget
from lib.redis import client as redis_client
from tests.collectors.harness import SEED, control, start_simulator

MINUTE, HOUR, DAY = 60_000, 3_600_000, 86_400_000


@pytest.fixture(scope="module")
def simulator():
    # Virtual time ten days behind the wall clock, so every kline asked for below is complete.
    start = (int(time.time() * 1000) - 10 * DAY) // DAY * DAY
    handle = start_simulator(start_ms=start, speed=0.001, update_interval=60, ctx_interval=60)
    yield handle
    handle.stop()


@pytest.fixture
def budgets(settings):
    settings.KIRBY_REST_429_PAUSE_SECONDS = 0.2
    keys = ["kirby:budget:bybit", "kirby:budget:hyperliquid"]
    redis_client().delete(*keys)
    yield
    redis_client().delete(*keys)


def now_of(simulator):
    return control(simulator, "/control/stats")["virtual_now_ms"]


def rows(pages):
    return [(c.open_ms, c.open, c.high, c.low, c.close, c.volume) for page in pages for c in page]


def test_klines_page_forward_in_windows_of_1000_and_equal_the_market(simulator):
    end = now_of(simulator) // DAY * DAY
    start = end - 2 * DAY - 500 * MINUTE

    linear = list(history.candle_pages("linear:BTCUSDT", "1m", start, end, url=simulator.url))
    spot = list(history.candle_pages("spot:BTCUSDT", "1m", start, end, url=simulator.url))

    assert [len(page) for page in linear] == [1000, 1000, 1000, 380]
    assert rows(linear) == simulated.truth_klines(SEED, "linear", "BTCUSDT", "1m", start, end)
    assert rows(spot) == simulated.truth_klines(SEED, "spot", "BTCUSDT", "1m", start, end)
    assert rows(linear) != rows(spot)  # the category picks the market
    assert all(c.closed for page in linear for c in page)


def test_the_open_kline_of_the_present_is_not_closed(simulator):
    now = now_of(simulator)

    (page,) = history.candle_pages("linear:ETHUSDT", "1h", now - 3 * HOUR, now + HOUR, url=simulator.url, now_ms=now)

    assert [c.closed for c in page] == [True, True, True, False][-len(page) :]
    assert not page[-1].closed and page[-1].open_ms == now // HOUR * HOUR


def test_history_starts_at_the_listing(simulator):
    end = now_of(simulator) // DAY * DAY
    listed = end - 3 * DAY + 17 * HOUR
    control(simulator, "/control/bybit/listing", {"category": "linear", "symbol": "SOLUSDT", "launch_ms": listed})

    candles = rows(history.candle_pages("linear:SOLUSDT", "1h", end - 5 * DAY, end, url=simulator.url))
    funding = [
        p for page in history.funding_pages("linear:SOLUSDT", end - 5 * DAY, end, url=simulator.url) for p in page
    ]

    assert candles[0][0] == listed and len(candles) == 3 * 24 - 17
    assert history.earliest_candle_ms("linear:SOLUSDT", "1h", listed, url=simulator.url) is None
    assert history.earliest_candle_ms("linear:SOLUSDT", "1h", listed + 5 * HOUR, url=simulator.url) == listed
    assert (
        funding[0].time_ms == end - 2 * DAY
        and history.earliest_funding_ms("linear:SOLUSDT", funding[0].time_ms, url=simulator.url) is None
    )


def test_funding_history_settles_every_8_hours_exactly(simulator):
    end = now_of(simulator) // HOUR * HOUR
    start = end - 30 * DAY - 5 * HOUR

    pages = list(history.funding_pages("linear:BTCUSDT", start, end, url=simulator.url))

    got = [(p.time_ms, p.funding_rate) for page in pages for p in page]
    assert got == [(t, Decimal(rate)) for t, rate in simulated.truth_funding(SEED, "BTCUSDT", start, end)]
    assert len(got) == 90
    assert len(pages) == 4  # windows of 200 hours: Bybit settles at most hourly, so no window overflows a page


def test_open_interest_history_by_period_is_one_side(simulator):
    end = now_of(simulator) // HOUR * HOUR
    start = end - 10 * DAY

    pages = list(history.open_interest_pages("linear:BTCUSDT", start, end, period="1h", url=simulator.url))

    points = [p for page in pages for p in page]
    assert [len(page) for page in pages] == [200, 40]
    assert [p.time_ms for p in points] == list(range(start, end, HOUR))
    both, single = simulated.open_interest_at(SEED, "BTC", points[7].time_ms)
    assert (str(points[7].open_interest_both_sides), str(points[7].open_interest)) == (both, single)
    with pytest.raises(history.HistoryError, match="2h"):
        list(history.open_interest_pages("linear:BTCUSDT", start, end, period="2h", url=simulator.url))


def test_the_simulator_pages_open_interest_by_cursor_as_bybit_does(simulator):
    end = now_of(simulator) // HOUR * HOUR
    params = {"category": "linear", "symbol": "BTCUSDT", "intervalTime": "1h", "startTime": end - 30 * HOUR,
              "endTime": end - 1, "limit": 20}  # fmt: skip

    first = history.get("/v5/market/open-interest", params, url=simulator.url)
    with urllib.request.urlopen(f"{simulator.url}/v5/market/open-interest?{urllib.parse.urlencode(params)}") as answer:
        cursor = json.loads(answer.read())["result"]["nextPageCursor"]
    second = history.get("/v5/market/open-interest", {**params, "cursor": cursor}, url=simulator.url)

    times = [int(row["timestamp"]) for row in first + second]
    assert times == list(range(end - HOUR, end - 31 * HOUR, -HOUR))


def test_a_429_pauses_bybit_only_and_is_raised_for_the_job_to_resume(simulator, budgets):
    control(simulator, "/control/rest-429", {"count": 1})
    bybit, hyperliquid = Budget("bybit"), Budget("hyperliquid")

    with pytest.raises(history.RateLimited) as raised:
        list(history.candle_pages("linear:BTCUSDT", "1h", 0, HOUR, url=simulator.url, budget=bybit))

    assert 0 < raised.value.retry_after <= 1
    assert bybit.state()["rate_limited"] == 1 and bybit.state()["factor"] == 0.5
    assert hyperliquid.state()["rate_limited"] == 0 and hyperliquid.state()["factor"] == 1
    logged = control(simulator, "/control/bybit/requests")
    assert logged[-1]["status"] == 429 and logged[-1]["path"] == "/v5/market/kline"


def test_rows_out_of_order_repeated_or_outside_the_window_are_counted_and_dropped():
    page = [["3600000", "1", "1", "1", "1", "1", "1"], ["0", "1", "1", "1", "1", "1", "1"],
            ["0", "1", "1", "1", "1", "1", "1"], ["7200000", "1", "1", "1", "1", "1", "1"]]  # fmt: skip
    candles = [parse_kline_row(row, "linear:BTCUSDT", "1h", 0) for row in page]
    skipped = []

    kept = ascending("bybit", candles, 0, 2 * HOUR, skipped)

    # Read oldest first: 7200000 is past the window, the second 0 repeats the first.
    assert [c.open_ms for c in kept] == [0, 3600000]
    assert sorted(c.open_ms for c in skipped) == [0, 7200000]


@pytest.mark.parametrize("name, limit", [("linear:BTCUSDT", 1000), ("spot:ETHUSDT", 60)])
def test_recent_trades_are_the_latest_the_venue_keeps_oldest_first_as_the_tape_has_them(simulator, name, limit):
    category, _, symbol = name.partition(":")
    trades = history.recent_trades(name, url=simulator.url)
    now = now_of(simulator)
    tape = control(simulator, f"/truth/trades?exchange=bybit&coin={name}&start={now - 2 * DAY}&end={now + 1}")

    assert len(trades) == limit and [t.time_us for t in trades] == sorted(t.time_us for t in trades)
    assert [(t.trade_id, t.time_us // 1000, format(t.price, "f"), format(t.size, "f"), t.side) for t in trades] == [
        (t["i"], t["T"], t["p"], t["v"], t["S"].lower()) for t in tape[-limit:]
    ]
    assert all(t.coin == name for t in trades)
