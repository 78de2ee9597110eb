"""The OKX REST history client against the simulator's OKX endpoints: paging by ``after``, listing, 429s."""

import time
from decimal import Decimal

import pytest

from apps.collectors.exchanges.events import ascending
from apps.collectors.exchanges.okx import contracts, history
from apps.collectors.exchanges.okx.parser import candle_row
from apps.collectors.plan import Plan
from apps.collectors.simulator import okx as simulated
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


@pytest.fixture
def budgets(settings):
    settings.KIRBY_REST_429_PAUSE_SECONDS = 0.2
    keys = ["kirby:budget:okx", "kirby:budget:bybit"]
    redis_client().delete(*keys)
    yield
    redis_client().delete(*keys)


def now_of(simulator):
    return control(simulator, "/control/stats")["virtual_now_ms"]


def rows(pages):
    return [(c.open_ms, c.open, c.high, c.low, c.close, c.volume) for page in pages for c in page]


def test_candles_page_forward_in_windows_of_100_asked_by_after_and_equal_the_market(simulator):
    end = now_of(simulator) // DAY * DAY
    start = end - 250 * MINUTE

    swap = list(history.candle_pages("BTC-USDT-SWAP", "1m", start, end, url=simulator.url))
    spot = list(history.candle_pages("BTC-USDT", "1m", start, end, url=simulator.url))

    assert [len(page) for page in swap] == [100, 100, 50]
    assert rows(swap) == simulated.truth_candles(SEED, "BTC-USDT-SWAP", "1m", start, end)
    assert rows(spot) == simulated.truth_candles(SEED, "BTC-USDT", "1m", start, end)
    assert rows(swap) != rows(spot)  # the instrument picks the market
    assert all(c.closed for page in swap for c in page)
    asked = [entry["query"] for entry in control(simulator, "/control/okx/requests")[-6:-3]]
    assert [int(q["after"]) for q in asked] == [start + 100 * MINUTE, start + 200 * MINUTE, end]


def test_a_swaps_base_volume_is_its_coin_amount_not_its_contracts(simulator):
    end = now_of(simulator) // HOUR * HOUR
    params = {"instId": "BTC-USDT-SWAP", "bar": "1H", "after": end, "limit": 3}

    answer = history.get("/api/v5/market/history-candles", params, 1, url=simulator.url)
    candles = [candle_row(row, "BTC-USDT-SWAP", "1h") for row in answer]

    # BTC swaps are contracts of 0.01 BTC: vol is a hundred times the coin amount Kirby stores.
    assert all(Decimal(row[5]) == Decimal(row[6]) * 100 for row in answer)
    assert [c.volume for c in candles] == [Decimal(row[6]) for row in answer]
    assert [c.open_ms for c in candles] == [end - HOUR, end - 2 * HOUR, end - 3 * HOUR]


def test_the_open_candle_of_the_present_is_not_closed(simulator):
    now = now_of(simulator)

    (page,) = history.candle_pages("ETH-USDT-SWAP", "1h", now - 3 * HOUR, now + HOUR, url=simulator.url)

    assert [c.closed for c in page][:-1] == [True] * (len(page) - 1)
    assert not page[-1].closed and page[-1].open_ms == now // HOUR * HOUR


def test_history_starts_at_the_listing(simulator):
    end = now_of(simulator) // DAY * DAY
    listed = end - 3 * DAY + 17 * HOUR
    control(simulator, "/control/okx/listing", {"instId": "SOL-USDT-SWAP", "launch_ms": listed})

    candles = rows(history.candle_pages("SOL-USDT-SWAP", "1h", end - 5 * DAY, end, url=simulator.url))
    funding = [
        p for page in history.funding_pages("SOL-USDT-SWAP", end - 5 * DAY, end, url=simulator.url) for p in page
    ]
    interest = [
        p for page in history.open_interest_pages("SOL-USDT-SWAP", end - 4 * DAY, end, url=simulator.url) for p in page
    ]

    assert candles[0][0] == listed and len(candles) == 3 * 24 - 17
    assert history.earliest_candle_ms("SOL-USDT-SWAP", "1h", listed, url=simulator.url) is None
    assert history.earliest_candle_ms("SOL-USDT-SWAP", "1h", listed + 5 * HOUR, url=simulator.url) == listed
    assert funding[0].time_ms == end - 2 * DAY
    assert history.earliest_funding_ms("SOL-USDT-SWAP", funding[0].time_ms, url=simulator.url) is None
    assert (
        interest[0].time_ms == listed
        and history.earliest_open_interest_ms("SOL-USDT-SWAP", listed, url=simulator.url) is None
    )


def test_funding_history_settles_every_8_hours_exactly(simulator):
    end = now_of(simulator) // HOUR * HOUR
    start = end - 30 * DAY - 5 * HOUR

    pages = list(history.funding_pages("BTC-USDT-SWAP", start, end, url=simulator.url))

    got = [(p.time_ms, p.funding_rate) for page in pages for p in page]
    assert got == [(t, Decimal(rate)) for t, rate in simulated.truth_funding(SEED, "BTC-USDT-SWAP", start, end)]
    assert len(got) == 90 and len(pages) == 8  # windows of 100 hours: OKX settles at most hourly
    with pytest.raises(history.HistoryError, match="swaps only"):
        list(history.funding_pages("BTC-USDT", start, end, url=simulator.url))


def test_open_interest_history_is_the_coin_amount_with_its_usd_value(simulator):
    end = now_of(simulator) // HOUR * HOUR
    start = end - 10 * HOUR

    pages = list(history.open_interest_pages("BTC-USDT-SWAP", start, end, url=simulator.url))

    points = [p for page in pages for p in page]
    assert [len(page) for page in pages] == [100, 20]
    assert [p.time_ms for p in points] == list(range(start, end, 5 * MINUTE))
    contracts, coins, usd = simulated.open_interest_at(SEED, "BTC-USDT-SWAP", points[7].time_ms)
    assert (str(points[7].open_interest), str(points[7].notional_value)) == (coins, usd)
    assert Decimal(contracts) == Decimal(coins) * 100
    with pytest.raises(history.HistoryError, match="8h"):
        list(history.open_interest_pages("BTC-USDT-SWAP", start, end, period="8h", url=simulator.url))


def test_a_429_pauses_okx_only_and_is_raised_for_the_job_to_resume(simulator, budgets):
    control(simulator, "/control/rest-429", {"count": 1})
    okx, bybit = Budget("okx"), Budget("bybit")

    with pytest.raises(history.RateLimited):
        list(history.candle_pages("BTC-USDT-SWAP", "1h", 0, HOUR, url=simulator.url, budget=okx))

    assert okx.state()["rate_limited"] == 1 and okx.state()["factor"] == 0.5
    assert bybit.state()["rate_limited"] == 0 and bybit.state()["factor"] == 1
    logged = control(simulator, "/control/okx/requests")
    assert logged[-1]["status"] == 429 and logged[-1]["path"] == "/api/v5/market/history-candles"


def test_rows_out_of_order_repeated_or_outside_the_window_are_counted_and_dropped():
    page = [[str(t), "1", "1", "1", "1", "1", "1", "1", "1"] for t in (HOUR, 0, 0, 2 * HOUR)]
    candles = [candle_row(row, "BTC-USDT", "1h") for row in page]
    skipped = []

    kept = ascending("okx", candles, 0, 2 * HOUR, skipped)

    # Read oldest first: 7200000 is past the window, the second 0 repeats the first.
    assert [c.open_ms for c in kept] == [0, HOUR]
    assert sorted(c.open_ms for c in skipped) == [0, 2 * HOUR]


def test_contract_values_are_read_once_and_a_swap_without_one_is_refused(simulator, budgets):
    plan = Plan(trades={"ETH-USDT-SWAP": [1], "BTC-USDT": [2]}, books={"SOL-USDC-SWAP": [3]})
    reads = len(control(simulator, "/control/okx/requests"))
    history.prepare_stream(plan, url=simulator.url, budget=Budget("okx"))
    history.prepare_stream(plan, url=simulator.url, budget=Budget("okx"))  # known: no request
    asked = [r for r in control(simulator, "/control/okx/requests")[reads:] if r["path"].endswith("instruments")]

    assert contracts.value("ETH-USDT-SWAP") == Decimal("0.1") and contracts.value("SOL-USDC-SWAP") == 1
    # Every swap in one request; ETH, not among the simulator's coins, alone after it; spot needs none.
    assert [r["query"] for r in asked] == [{"instType": "SWAP"}, {"instType": "SWAP", "instId": "ETH-USDT-SWAP"}]
    unknown = Plan(subscriptions={"t": {"channel": "trades", "instId": "XYZ-EUR-SWAP"}, "c": {"other": 1}},
                   trades={"XYZ-EUR-SWAP": [4]}, contexts={"XYZ-EUR-SWAP": [4]})  # fmt: skip
    history.prepare_stream(unknown, url=simulator.url, budget=Budget("okx"))
    # No such swap: its trades are not subscribed (never stored in contracts), the rest of the plan stays.
    assert contracts.value("XYZ-EUR-SWAP") is None and not unknown.trades and unknown.contexts
    assert unknown.subscriptions == {"c": {"other": 1}} and "HTTP 400" in unknown.unsupported[0]
    assert unknown.unsupported[0].startswith("okx/XYZ/EUR/perps (trades and book")
