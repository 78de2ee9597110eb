"""The simulator's deterministic market: the ground truth every other simulator test compares with."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from apps.collectors.simulator import intervals
from apps.collectors.simulator.context import asset_ctx, funding_history
from apps.collectors.simulator.market import Market, profile

T0 = int(datetime(2025, 3, 20, tzinfo=UTC).timestamp() * 1000)
MINUTE, HOUR, DAY = intervals.MINUTE, intervals.HOUR, intervals.DAY
COINS = ["BTC", "ETH", "kPEPE", "xyz:TSLA", "QUIETCOIN", "@107"]


def ms(*parts):
    return int(datetime(*parts, tzinfo=UTC).timestamp() * 1000)


def aggregate(candles):
    """What a candle of the covering interval must be: first open, last close, extremes, sums."""
    return (
        candles[0].open,
        max(c.high for c in candles),
        min(c.low for c in candles),
        candles[-1].close,
        sum(c.volume for c in candles),
        sum(c.trades for c in candles),
    )


def ohlcvn(candle):
    return candle.open, candle.high, candle.low, candle.close, candle.volume, candle.trades


def test_the_same_seed_trades_the_same_way_and_another_seed_does_not():
    minutes = [T0 + i * MINUTE for i in range(30)]

    first = [Market(42).ticks("BTC", t) for t in minutes]

    assert [Market(42).ticks("BTC", t) for t in minutes] == first
    assert [Market(43).ticks("BTC", t) for t in minutes] != first


@pytest.mark.parametrize("coin", COINS)
def test_trades_have_positive_exact_prices_and_sizes_at_distinct_times_inside_their_minute(coin):
    p = profile(coin)
    for t in range(T0, T0 + 20 * MINUTE, MINUTE):
        ticks = Market(7).ticks(coin, t)
        times = [tick.time for tick in ticks]
        assert times == sorted(set(times))
        assert all(t <= x < t + MINUTE for x in times)
        for tick in ticks:
            assert isinstance(tick.price, Decimal) and tick.price > 0
            assert isinstance(tick.size, Decimal) and tick.size > 0
            assert tick.price.as_tuple().exponent == -p.px_decimals
            assert tick.size.as_tuple().exponent == -p.sz_decimals


def test_some_minutes_have_no_trades_and_then_no_candle():
    market = Market(42)
    empty = [t for t in range(T0, T0 + 300 * MINUTE, MINUTE) if not market.ticks("ETH", t)]

    assert 0 < len(empty) < 60
    assert market.candle("ETH", "1m", empty[0]) is None
    assert empty[0] not in [c.open_time for c in market.candles("ETH", "1m", empty[0] - MINUTE, empty[0] + MINUTE)]


def test_a_minute_candle_aggregates_its_trades():
    market = Market(42)
    ticks = market.ticks("SOL", T0)
    candle = market.candle("SOL", "1m", T0)

    assert ohlcvn(candle) == (
        ticks[0].price,
        max(t.price for t in ticks),
        min(t.price for t in ticks),
        ticks[-1].price,
        sum(t.size for t in ticks),
        len(ticks),
    )
    assert (candle.open_time, candle.close_time) == (T0, T0 + MINUTE - 1)


@pytest.mark.parametrize(
    ("interval", "parts", "start", "count"),
    [("1h", "1m", T0, 60), ("15m", "5m", T0, 3), ("1d", "1h", T0, 24), ("12h", "4h", T0, 3), ("3d", "1d", T0, 3)],
)
def test_a_longer_candle_aggregates_the_shorter_candles_inside_it(interval, parts, start, count):
    market = Market(42)
    start = intervals.floor(interval, start)
    inner = market.candles("kPEPE", parts, start, intervals.next_start(interval, start))

    assert len(inner) <= count
    assert ohlcvn(market.candle("kPEPE", interval, start)) == aggregate(inner)


def test_weeks_follow_the_unix_epoch_and_months_the_utc_calendar():
    assert intervals.floor("1w", ms(2025, 3, 20, 12)) == ms(2025, 3, 20)
    assert intervals.floor("1M", ms(2024, 2, 29, 23, 59)) == ms(2024, 2, 1)
    assert intervals.close_time("1M", ms(2024, 2, 1)) == ms(2024, 3, 1) - 1
    assert intervals.shift("1M", ms(2024, 1, 1), -13) == ms(2022, 12, 1)

    market = Market(3)
    days = market.candles("BTC", "1d", ms(2024, 2, 1), ms(2024, 3, 1))
    month = market.candle("BTC", "1M", ms(2024, 2, 1))
    assert len(days) == 29
    assert (ohlcvn(month), month.close_time) == (aggregate(days), ms(2024, 3, 1) - 1)


def test_a_candle_as_of_a_time_counts_only_the_trades_before_it():
    market = Market(42)
    ticks = [tick for m in range(3) for tick in market.ticks("BTC", T0 + m * MINUTE)]
    cut = ticks[len(ticks) // 2].time

    partial = market.candle("BTC", "5m", T0, until_ms=cut)

    before = [t for t in ticks if t.time < cut]
    assert partial.trades == len(before)
    assert (partial.open, partial.close, partial.volume) == (
        before[0].price,
        before[-1].price,
        sum(t.size for t in before),
    )
    assert market.candle("BTC", "5m", T0, until_ms=T0) is None


def test_candles_are_the_complete_candles_opening_inside_the_range():
    market = Market(42)

    found = market.candles("ETH", "1h", T0 - 30 * MINUTE, T0 + 3 * HOUR)

    assert [c.open_time for c in found] == [T0, T0 + HOUR, T0 + 2 * HOUR]
    assert found[1] == market.candle("ETH", "1h", T0 + HOUR)


def test_an_unaligned_open_time_is_refused():
    with pytest.raises(ValueError):
        Market(42).candle("BTC", "1h", T0 + MINUTE)


def test_tick_states_are_the_candle_after_each_of_its_last_trades():
    market = Market(42)
    until = T0 + 40 * MINUTE + 17_000
    ticks = [tick for m in range(41) for tick in market.ticks("BTC", T0 + m * MINUTE) if tick.time < until]

    states = market.tick_states("BTC", "1h", T0, until, 5)

    assert states == [market.candle("BTC", "1h", T0, until_ms=tick.time + 1) for tick in ticks[-5:]]
    assert states[-1] == market.candle("BTC", "1h", T0, until_ms=until)


def test_a_candle_travels_as_hyperliquid_strings_in_either_key_order():
    candle = Market(42).candle("xyz:TSLA", "1m", T0)

    wire, alphabetical = candle.to_wire(), candle.to_wire(alphabetical=True)

    assert list(wire) == ["t", "T", "s", "i", "o", "c", "h", "l", "v", "n"]
    assert list(alphabetical) == ["T", "c", "h", "i", "l", "n", "o", "s", "t", "v"]
    assert wire == alphabetical
    assert Decimal(wire["v"]) == candle.volume and "E" not in wire["v"] and isinstance(wire["n"], int)


def test_asset_context_is_deterministic_decimal_strings_and_null_for_quiet_coins():
    ctx = asset_ctx(42, "BTC", T0 + 1234)
    quiet = asset_ctx(42, "QUIETCOIN", T0)

    assert asset_ctx(42, "BTC", T0 + 1234) == ctx
    assert list(ctx) == list(quiet) == [
        "funding", "openInterest", "prevDayPx", "dayNtlVlm", "premium",
        "oraclePx", "markPx", "midPx", "impactPxs", "dayBaseVlm",
    ]  # fmt: skip
    assert all(isinstance(v, str) and Decimal(v).is_finite() for k, v in ctx.items() if k != "impactPxs")
    assert len(ctx["impactPxs"]) == 2 and Decimal(ctx["impactPxs"][0]) < Decimal(ctx["impactPxs"][1])
    assert (quiet["premium"], quiet["midPx"], quiet["impactPxs"]) == (None, None, None)
    assert Decimal(quiet["markPx"]) > 0


def test_funding_history_is_hourly_with_a_few_milliseconds_of_jitter():
    records = funding_history(42, "ETH", T0, T0 + 10 * HOUR, limit=4)

    assert [r["time"] // HOUR * HOUR for r in records] == [T0 + i * HOUR for i in range(4)]
    assert all(0 <= r["time"] % HOUR < 100 for r in records)
    assert any(r["time"] % HOUR for r in records)
    assert [r["fundingRate"] for r in records] != [records[0]["fundingRate"]] * 4
