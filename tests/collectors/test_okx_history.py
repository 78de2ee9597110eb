"""The OKX REST history client against the simulator's OKX endpoints: paging by ``after``, listing, 429s, and
the trades a stream missed while it reconnected (history-trades, paged back by trade id)."""

import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from decimal import Decimal

import pytest

from apps.collectors.exchanges import get_adapter
from apps.collectors.exchanges.events import TradeUpdate, ascending
from apps.collectors.exchanges.okx import contracts, history
from apps.collectors.exchanges.okx.parser import candle_row
from apps.collectors.plan import Plan
from apps.collectors.simulator import okx as simulated
from apps.collectors.simulator import okx_ticks
from apps.collectors.stream import Stream
from lib.budget import Budget
from lib.redis import client as redis_client
from tests.collectors.harness import SEED, control, start_simulator
from tests.collectors.test_binance_parser import Collected

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


# Trades read back after a reconnect: GET /api/v5/market/history-trades.

TRADES_PATH = "/api/v5/market/history-trades"


def tape(inst_id, start, end):
    """The simulator's tape of ``[start, end)`` as (trade id, ms, price, size in the coin, side)."""
    value = simulated.contract_value("BTC") if inst_id.endswith("-SWAP") else 1
    return [(t["tradeId"], int(t["ts"]), Decimal(t["px"]), Decimal(t["sz"]) * value, t["side"])
            for t in okx_ticks.trades(SEED, inst_id, start, end)]  # fmt: skip


def read_back(pages):
    return [(t.trade_id, t.time_us // 1000, t.price, t.size, t.side) for page in pages for t in page]


def history_trades(simulator, **query):
    """The simulator's answer to one history-trades query: (HTTP status, body)."""
    address = f"{simulator.url}{TRADES_PATH}?{urllib.parse.urlencode(query)}"
    try:
        with urllib.request.urlopen(address, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.mark.parametrize("inst_id", ["BTC-USDT-SWAP", "BTC-USDT"])
@pytest.mark.parametrize("limit", [100, 7])
def test_trades_page_backwards_by_trade_id_from_the_windows_end_and_equal_the_tape(simulator, inst_id, limit):
    contracts.remember({"BTC-USDT-SWAP": Decimal("0.01")})
    now = now_of(simulator)
    start, end = now - 3 * HOUR - 123, now - 5_000  # hundreds of trades, more than OKX's recent 500 are not
    asked = len(control(simulator, "/control/okx/requests"))

    pages = list(history.trade_pages(inst_id, start, end, url=simulator.url, limit=limit))

    expected = tape(inst_id, start, end)
    assert len(expected) > 3 * 60 and read_back(reversed(pages)) == expected  # each trade once, sizes in the coin
    assert all(page == sorted(page, key=lambda t: t.time_us) for page in pages)
    queries = [r["query"] for r in control(simulator, "/control/okx/requests")[asked:] if r["path"] == TRADES_PATH]
    # The first page by time (the newest before the window's end), then each by the oldest trade id so far.
    assert queries[0] == {"instId": inst_id, "type": "2", "after": str(end), "limit": str(limit)}
    oldest = [min(int(t.trade_id) for t in page) for page in pages]
    assert [q["after"] for q in queries[1:]] == [str(i) for i in oldest[: len(queries) - 1]]
    assert all(q["type"] == "1" for q in queries[1:])
    # Until the first page reaching before the window: one request more than its full pages.
    assert len(queries) == len(expected) // limit + 1 and len(pages) == -(-len(expected) // limit)


def test_a_window_before_the_listing_asks_once_and_yields_nothing(simulator):
    listed = now_of(simulator) - HOUR
    control(simulator, "/control/okx/listing", {"instId": "SOL-USDT", "launch_ms": listed})
    asked = len(control(simulator, "/control/okx/requests"))

    assert list(history.trade_pages("SOL-USDT", listed - 5 * HOUR, listed, url=simulator.url)) == []
    from_listing = read_back(reversed(list(history.trade_pages("SOL-USDT", listed - 5 * HOUR, listed + 10 * MINUTE,
                                                               url=simulator.url))))  # fmt: skip

    assert len(control(simulator, "/control/okx/requests")) - asked == 2  # short pages: the start of the history
    assert from_listing == tape("SOL-USDT", listed, listed + 10 * MINUTE) and 0 < len(from_listing) < 100


def test_the_history_trades_endpoint_pages_as_okx_and_refuses_bad_parameters(simulator):
    now = now_of(simulator)
    newest = history_trades(simulator, instId="BTC-USDT")[1]["data"]
    ids = [int(t["tradeId"]) for t in newest]
    assert len(newest) == 100 and ids == sorted(ids, reverse=True) and int(newest[0]["ts"]) <= now

    older = history_trades(simulator, instId="BTC-USDT", after=ids[-1], limit=5)[1]["data"]
    assert [int(t["tradeId"]) for t in older] == sorted((int(t["tradeId"]) for t in older), reverse=True)
    assert int(older[0]["tradeId"]) < ids[-1] and len(older) == 5
    newer = history_trades(simulator, instId="BTC-USDT", before=ids[3])[1]["data"]
    assert newer == newest[:3]  # before alone: the newest trades after that id
    between = history_trades(simulator, instId="BTC-USDT", after=ids[1], before=ids[5])[1]["data"]
    assert between == newest[2:5]
    by_time = history_trades(simulator, instId="BTC-USDT", type=2, after=newest[9]["ts"], limit=3)[1]["data"]
    assert by_time == newest[10:13]

    for query, code in (
        ({"instId": "BTC-USDT", "limit": 101}, "51000"),
        ({"instId": "BTC-USDT", "limit": 0}, "51000"),
        ({"instId": "BTC-USDT", "type": 3}, "51000"),
        ({"instId": "BTC-USDT", "after": "soon"}, "51000"),
        ({"instId": "BTC-USDT", "type": 2, "before": newest[9]["ts"]}, "51000"),  # before pages by id only
        ({"instId": "BTC-EUR"}, "51001"),
        ({}, "51001"),
    ):
        status, body = history_trades(simulator, **query)
        assert (status, body["code"], body["data"]) == (400, code, []), query


def test_a_429_on_history_trades_is_paid_from_okx_budget_and_raised(simulator, budgets):
    contracts.remember({"BTC-USDT-SWAP": Decimal("0.01")})
    control(simulator, "/control/rest-429", {"count": 1})
    now = now_of(simulator)

    with pytest.raises(history.RateLimited):
        list(history.trade_pages("BTC-USDT-SWAP", now - HOUR, now, url=simulator.url, budget=Budget("okx")))

    assert Budget("okx").state()["rate_limited"] == 1
    assert control(simulator, "/control/okx/requests")[-1]["path"] == TRADES_PATH


def test_a_swap_whose_contract_value_is_unknown_is_not_read_back_in_contracts(simulator):
    with pytest.raises(history.HistoryError, match="ctVal"):
        list(history.trade_pages("XRP-USDT-SWAP", 0, HOUR, url=simulator.url))


def test_after_a_reconnect_only_series_without_a_window_read_recent_trades():
    okx, bybit = (Stream(get_adapter(name), 0, Collected(), threading.Event()) for name in ("okx", "bybit"))
    okx.plan = Plan(trades={"BTC-USDT-SWAP": [1], "SOL-USDT": [2]})
    bybit.plan = Plan(trades={"linear:BTCUSDT": [1]})
    assert okx._recent_trade_series() == ["BTC-USDT-SWAP", "SOL-USDT"]  # a collector starting: nothing seen yet

    okx.trade_gaps.seen(TradeUpdate("BTC-USDT-SWAP", "7", Decimal(1), Decimal(1), "buy", 7_000_000))
    okx.trade_gaps.reconnected()
    bybit.trade_gaps.seen(TradeUpdate("linear:BTCUSDT", "7", Decimal(1), Decimal(1), "buy", 7_000_000))
    bybit.trade_gaps.reconnected()

    # The swap's window is read back from history-trades; SOL had not traded: only its recent trades can help.
    assert okx._recent_trade_series() == ["SOL-USDT"]
    assert bybit._recent_trade_series() == ["linear:BTCUSDT"]  # no read back by window: always the recent ones
