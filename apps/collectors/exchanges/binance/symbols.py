"""Kirby trading pairs -> Binance markets and symbols.

Binance names a pair ``BTCUSDT`` on spot and on USD-M futures alike, so the
adapter's name for a pair carries the market: ``spot:BTCUSDT`` for spot,
``usdm:BTCUSDT`` for perpetuals (Kirby 1.x fetched spot klines for both and
so mislabelled its perps history). ``history`` picks the API from it.
"""

from apps.collectors.exchanges.binance.protocol import SPOT, USDM

MARKETS = {"spot": SPOT, "perps": USDM}


class UnsupportedMarket(ValueError):
    pass


def coin_name(coin, quote, market_type):
    market = MARKETS.get(market_type)
    if market is None:
        raise UnsupportedMarket(f"Binance has no {market_type!r} market here; known: {', '.join(MARKETS)}")
    return f"{market}:{coin.upper()}{quote.upper()}"


def split_name(name):
    """``usdm:BTCUSDT`` -> (``usdm``, ``BTCUSDT``)."""
    market, _, symbol = name.partition(":")
    if market not in (SPOT, USDM) or not symbol:
        raise UnsupportedMarket(f"not a Binance market:symbol name: {name!r}")
    return market, symbol


def has_asset_context(market_type):
    """Funding (markPrice stream) and open interest (polled) exist for USD-M perpetuals only."""
    return market_type == "perps"
