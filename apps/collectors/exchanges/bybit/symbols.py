"""Kirby trading pairs <-> Bybit categories and symbols, both ways.

Bybit names BTC/USDT ``BTCUSDT`` as a linear perpetual and as a spot pair,
so the adapter's name for a pair carries the category: ``linear:BTCUSDT``
(Kirby ``perps``) or ``spot:BTCUSDT`` (Kirby ``spot``). Symbols are
uppercase, base then quote with nothing between.
"""

from apps.collectors.exchanges.bybit.protocol import LINEAR, SPOT

CATEGORIES = {"perps": LINEAR, "spot": SPOT}
MARKET_TYPES = {category: market_type for market_type, category in CATEGORIES.items()}
# Quotes Bybit lists against, longest first so that a symbol splits at the right place.
QUOTES = ("USDT", "USDC", "USDE", "BTC", "ETH", "EUR")


class UnsupportedMarket(ValueError):
    pass


def coin_name(coin, quote, market_type):
    """(``BTC``, ``USDT``, ``perps``) -> ``linear:BTCUSDT``."""
    category = CATEGORIES.get(market_type)
    if category is None:
        raise UnsupportedMarket(f"Bybit has no {market_type!r} market here; known: {', '.join(CATEGORIES)}")
    return f"{category}:{coin.upper()}{quote.upper()}"


def split_name(name):
    """``linear:BTCUSDT`` -> (``linear``, ``BTCUSDT``)."""
    category, _, symbol = name.partition(":") if isinstance(name, str) else ("", "", "")
    if category not in MARKET_TYPES or not symbol:
        raise UnsupportedMarket(f"not a Bybit category:symbol name: {name!r}")
    return category, symbol


def pair_of(name):
    """``linear:BTCUSDT`` -> (``BTC``, ``USDT``, ``perps``): the Kirby trading pair of an adapter name."""
    category, symbol = split_name(name)
    for quote in QUOTES:
        if symbol.endswith(quote) and len(symbol) > len(quote):
            return symbol[: -len(quote)], quote, MARKET_TYPES[category]
    raise UnsupportedMarket(f"no known quote currency at the end of {symbol!r}")


def has_asset_context(market_type):
    """Funding and open interest exist for perpetuals only."""
    return market_type == "perps"
