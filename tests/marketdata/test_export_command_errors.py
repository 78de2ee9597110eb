"""``manage.py export`` refuses bad requests with one clear line and writes nothing."""

import pytest
from django.core.management import CommandError, call_command

from apps.marketdata.writer import write_candles
from apps.markets.models import Coin, Exchange, TradingPair
from tests.conftest import candle, utc


def export(tmp_path, *arguments):
    call_command("export", "--output", str(tmp_path), *arguments)


@pytest.fixture
def second_btc_market(world):
    binance = Exchange.objects.create(name="binance", display_name="Binance")
    TradingPair.objects.create(exchange=binance, coin=world.btc, quote=world.usd, market_type=world.perps)


def test_an_ambiguous_coin_lists_the_markets_to_choose_from(tmp_path, second_btc_market):
    with pytest.raises(CommandError) as raised:
        export(tmp_path, "--coin", "BTC")

    assert str(raised.value) == (
        "coin BTC is ambiguous: hyperliquid/BTC/USD/perps, binance/BTC/USD/perps;"
        " choose with --exchange, --quote and/or --market-type"
    )
    assert list(tmp_path.iterdir()) == []


def test_the_exchange_option_resolves_an_ambiguous_coin(tmp_path, second_btc_market, world):
    export(tmp_path, "--coin", "BTC", "--exchange", "hyperliquid", "--intervals", "1m")

    assert [p.name.split("_")[1] for p in tmp_path.iterdir()] == ["hyperliquid", "hyperliquid"]


def test_an_unknown_coin_is_named(tmp_path, world):
    with pytest.raises(CommandError, match="no trading pair for coin DOGE in the production database"):
        export(tmp_path, "--coin", "DOGE")


@pytest.mark.parametrize(
    "intervals, message",
    [
        ("2m", "unknown interval '2m'; known: 1m 3m 5m"),
        ("1m,4h", "hyperliquid/BTC/USD/perps has no 4h starlisting; it has: 1m, 1h"),
    ],
)
def test_unknown_or_unlisted_intervals_are_named(tmp_path, world, intervals, message):
    with pytest.raises(CommandError, match=message):
        export(tmp_path, "--coin", "BTC", "--intervals", intervals)


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--start-time", "yesterday"], "--start-time 'yesterday': must be an ISO-8601 time"),
        (["--end-time", "2025-13-01"], "--end-time '2025-13-01': must be an ISO-8601 time"),
        (["--start-time", "2025-02-01", "--end-time", "2025-01-01"], "--end-time must be after --start-time"),
        (["--days", "3", "--start-time", "2025-01-01"], "use either --days or --start-time/--end-time"),
        (["--days", "0"], "--days must be a positive number of days"),
    ],
)
def test_bad_dates_are_refused_by_option(tmp_path, world, arguments, message):
    with pytest.raises(CommandError, match=message):
        export(tmp_path, "--coin", "BTC", *arguments)


def test_a_value_parquet_decimals_cannot_hold_fails_the_export_and_leaves_no_file(tmp_path, world):
    tiny = "0.0000000000000000001"  # 19 decimal places: beyond decimal128(38, 18)
    write_candles([candle(world.btc_1m, utc(2025, 1, 1), low=tiny, open=tiny)], publish=False)

    with pytest.raises(CommandError, match="does not fit the Parquet column type"):
        export(tmp_path, "--coin", "BTC", "--intervals", "1m", "--format", "parquet")

    assert list(tmp_path.iterdir()) == []
    export(tmp_path, "--coin", "BTC", "--intervals", "1m", "--format", "parquet", "--parquet-numbers", "float64")
    assert len(list(tmp_path.iterdir())) == 2


def test_a_coin_without_starlistings_has_no_candles_to_export(tmp_path, world):
    TradingPair.objects.create(
        exchange=world.exchange, coin=Coin.objects.create(symbol="ETH"), quote=world.usd, market_type=world.perps
    )

    with pytest.raises(CommandError, match="hyperliquid/ETH/USD/perps has no starlistings"):
        export(tmp_path, "--coin", "eth")
