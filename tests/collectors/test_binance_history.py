"""The Binance REST history client: recorded klines, and paging against the simulator's kline endpoints."""

import json
import time
from decimal import Decimal
from pathlib import Path

import pytest

from apps.collectors.exchanges import LIVE_EXCHANGES, get_adapter
from apps.collectors.exchanges.binance.history import Client, RateLimited, candle_pages
from apps.collectors.exchanges.binance.parser import parse_kline_row, parse_stream_kline
from apps.collectors.exchanges.binance.symbols import UnsupportedMarket, coin_name
from apps.collectors.simulator import binance as simulated
from tests.collectors.harness import SEED, control, start_simulator

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "exchanges"
MINUTE, HOUR, DAY = 60_000, 3_600_000, 86_400_000


def recorded(market_folder):
    return [json.loads(line) for line in (FIXTURES / market_folder / "candles.ndjson").read_text().splitlines()]


def rest_row(kline):
    """The REST array Binance serves for the same kline (EXCHANGES.md 2.3: same values, by position)."""
    k = kline["data"]["k"]
    return [k["t"], k["o"], k["h"], k["l"], k["c"], k["v"], k["T"], k["q"], k["n"], k["V"], k["Q"], k["B"]]


@pytest.fixture(scope="module")
def simulator():
    # Virtual time ten days behind the wall clock, so every kline asked for below is complete.
    start = (int(time.time() * 1000) - 10 * DAY) // DAY * DAY
    handle = start_simulator(start_ms=start, speed=60, update_interval=60, ctx_interval=60)
    yield handle
    handle.stop()


def virtual_now(simulator):
    return control(simulator, "/control/stats")["virtual_now_ms"]


def test_recorded_usdm_kline_frames_parse_exactly_and_the_closing_push_is_closed():
    frames = recorded("binance_usdm")

    candles = [parse_stream_kline(frame, "usdm") for frame in frames]

    closing = [c for c in candles if c.closed]
    assert len(closing) == 1 and closing[0].open_ms == 1626992700000
    assert closing[0] == closing[0]._replace(
        coin="usdm:SUSHIUSDT", interval="1m", close_ms=1626992759999, open=Decimal("7.6080"),
        high=Decimal("7.6180"), low=Decimal("7.6070"), close=Decimal("7.6170"), volume=Decimal("3005"), num_trades=113,
    )  # fmt: skip
    assert str(candles[0].open) == "7.6080"  # trailing zeros kept: exactly as published


def test_recorded_spot_klines_keep_every_digit():
    candles = [parse_stream_kline(frame, "spot") for frame in recorded("binance_spot")]

    assert [c.coin for c in candles] == ["spot:NKNUSDT", "spot:LRCBTC"]
    assert str(candles[1].low) == "0.00000638" and not candles[1].closed


def test_a_rest_kline_row_parses_to_the_same_candle_as_its_recorded_stream_push():
    for frame in recorded("binance_usdm") + recorded("binance_spot"):
        market = "usdm" if "sushi" in frame["stream"] else "spot"
        streamed = parse_stream_kline(frame, market)

        row = parse_kline_row(rest_row(frame), streamed.coin, "1m", now_ms=streamed.close_ms + 1)

        assert row == streamed._replace(closed=True)


def test_a_rest_kline_whose_interval_has_not_ended_is_open():
    frame = recorded("binance_usdm")[0]

    row = parse_kline_row(rest_row(frame), "usdm:SUSHIUSDT", "1m", now_ms=frame["data"]["E"])

    assert row.closed is False


def test_pairs_map_to_the_market_whose_klines_they_are():
    assert coin_name("BTC", "USDT", "perps") == "usdm:BTCUSDT"
    assert coin_name("btc", "usdt", "spot") == "spot:BTCUSDT"
    with pytest.raises(UnsupportedMarket, match="futures"):
        coin_name("BTC", "USDT", "futures")


def test_binance_is_registered_for_history_and_streamed():
    adapter = get_adapter("binance")

    assert adapter.history.candle_pages is candle_pages
    assert "binance" in LIVE_EXCHANGES and "hyperliquid" in LIVE_EXCHANGES


@pytest.mark.parametrize("market, page_size", [("usdm", 1500), ("spot", 1000)])
def test_history_pages_through_the_markets_klines_exactly(simulator, market, page_size):
    end = virtual_now(simulator) // DAY * DAY
    start = end - 2 * DAY - 500 * MINUTE

    pages = list(candle_pages(f"{market}:BTCUSDT", "1m", start, end, url=simulator.url))

    assert [len(page) for page in pages][:2] == [page_size, page_size]
    got = [(c.open_ms, c.open, c.high, c.low, c.close, c.volume, c.num_trades) for page in pages for c in page]
    assert got == simulated.truth(SEED, market, "BTCUSDT", "1m", start, end)
    assert all(c.closed for page in pages for c in page)
    assert any(row[5] == 0 for row in got)  # minutes without trades are zero-volume klines


def test_perps_and_spot_history_are_different_markets(simulator):
    end = virtual_now(simulator) // HOUR * HOUR
    start = end - 24 * HOUR

    perps = [c.close for page in candle_pages("usdm:BTCUSDT", "1h", start, end, url=simulator.url) for c in page]
    spot = [c.close for page in candle_pages("spot:BTCUSDT", "1h", start, end, url=simulator.url) for c in page]

    assert len(perps) == len(spot) == 24
    assert perps != spot


def test_a_429_is_waited_out_for_its_retry_after_and_the_page_asked_again(simulator):
    end = virtual_now(simulator) // HOUR * HOUR
    control(simulator, "/control/rest-429", {"count": 1})
    client = Client("usdm", simulator.url)

    pages = list(candle_pages("usdm:BTCUSDT", "1h", end - 5 * HOUR, end, url=simulator.url, client=client))

    assert sum(len(page) for page in pages) == 5
    assert client.waited_seconds == simulated.RETRY_AFTER_SECONDS


def test_a_rate_limit_longer_than_the_accepted_wait_is_raised(simulator, settings):
    settings.KIRBY_BINANCE_MAX_BACKOFF_SECONDS = 0
    control(simulator, "/control/rest-429", {"count": 1})

    with pytest.raises(RateLimited) as raised:
        list(candle_pages("usdm:BTCUSDT", "1h", 0, HOUR, url=simulator.url))

    assert raised.value.status == 429 and raised.value.retry_after == simulated.RETRY_AFTER_SECONDS
