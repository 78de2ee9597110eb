"""Kirby trading pairs <-> OKX instrument ids.

OKX names every instrument in full, so the adapter's name for a pair is its
``instId``: ``BTC-USDT-SWAP`` for the USDT-margined perpetual (Kirby
``perps``) and ``BTC-USDT`` for spot. Inverse swaps (``BTC-USD-SWAP``) and
dated futures (``BTC-USD-220527``) are not Kirby markets.
"""

SWAP_SUFFIX = "-SWAP"
MARKET_TYPES = ("perps", "spot")


class UnsupportedMarket(ValueError):
    pass


def coin_name(coin, quote, market_type):
    """(``BTC``, ``USDT``, ``perps``) -> ``BTC-USDT-SWAP``; (``BTC``, ``USDT``, ``spot``) -> ``BTC-USDT``."""
    if market_type not in MARKET_TYPES:
        raise UnsupportedMarket(f"OKX has no {market_type!r} market here; known: {', '.join(MARKET_TYPES)}")
    name = f"{coin.upper()}-{quote.upper()}"
    return name + SWAP_SUFFIX if market_type == "perps" else name


def is_swap(name):
    return isinstance(name, str) and name.endswith(SWAP_SUFFIX)


def pair_of(name):
    """``BTC-USDT-SWAP`` -> (``BTC``, ``USDT``, ``perps``): the Kirby trading pair of an instrument id."""
    parts = name.split("-") if isinstance(name, str) else []
    if len(parts) == 3 and parts[2] == "SWAP" and all(parts[:2]):
        return parts[0], parts[1], "perps"
    if len(parts) == 2 and all(parts):
        return parts[0], parts[1], "spot"
    raise UnsupportedMarket(f"not an OKX swap or spot instrument id: {name!r}")


def swap_id(name):
    """The instrument id of a swap, refusing spot ones (funding and open interest exist for swaps only)."""
    if pair_of(name)[2] != "perps":
        raise UnsupportedMarket(f"{name}: funding and open interest exist for swaps only")
    return name


def has_asset_context(market_type):
    """Funding and open interest exist for swaps only."""
    return market_type == "perps"
