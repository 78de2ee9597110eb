"""Database rules for reference data."""

import pytest
from django.db import IntegrityError, transaction

from apps.markets.intervals import STANDARD_INTERVALS
from apps.markets.models import Coin, Interval, Starlisting, TradingPair


def test_the_standard_intervals_are_seeded_with_their_seconds(db):
    seeded = dict(Interval.objects.values_list("name", "seconds"))

    assert seeded == STANDARD_INTERVALS
    assert seeded["1m"] == 60 and seeded["1M"] == 30 * 86400


def test_interval_names_are_case_sensitive(db):
    assert Interval.objects.filter(name="1m").get().seconds != Interval.objects.filter(name="1M").get().seconds
    assert not Interval.objects.filter(name="1H").exists()


def test_a_trading_pair_is_unique_per_exchange_coin_quote_and_market_type(world):
    with pytest.raises(IntegrityError), transaction.atomic():
        world.pair(world.btc)


def test_a_starlisting_is_unique_per_pair_and_interval(world):
    with pytest.raises(IntegrityError), transaction.atomic():
        world.starlisting(world.btc_pair, "1m")


def test_coin_symbols_may_not_differ_only_by_case(world):
    with pytest.raises(IntegrityError), transaction.atomic():
        Coin.objects.create(symbol="btc")


def test_a_starlisting_takes_exchange_coin_quote_and_market_type_from_its_pair(world):
    assert str(world.btc_1h) == "hyperliquid/BTC/USD/perps/1h"
    field_names = {f.name for f in Starlisting._meta.concrete_fields}
    assert field_names.isdisjoint({"exchange", "coin", "quote", "market_type"})


def test_a_trading_pair_with_data_cannot_be_deleted(world):
    from apps.marketdata.writer import write_candles
    from tests.conftest import candle, utc

    write_candles([candle(world.btc_1m, utc(2026, 11, 1))])

    with pytest.raises(Exception), transaction.atomic():  # noqa: B017 (PROTECT or the database refuses)
        Starlisting.objects.filter(id=world.btc_1m.id).delete()
    assert TradingPair.objects.filter(id=world.btc_pair.id).exists()
