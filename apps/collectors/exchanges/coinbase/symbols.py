"""Kirby trading pairs <-> Coinbase product ids (``BTC-USD``: base, dash, quote, uppercase). Spot only."""


class UnsupportedMarket(ValueError):
    pass


def coin_name(coin, quote, market_type):
    """(``BTC``, ``USD``, ``spot``) -> ``BTC-USD``."""
    if market_type != "spot":
        raise UnsupportedMarket(f"Coinbase has no {market_type!r} market here; known: spot")
    return f"{coin.upper()}-{quote.upper()}"


def pair_of(name):
    """``BTC-USD`` -> (``BTC``, ``USD``, ``spot``)."""
    base, dash, quote = name.partition("-") if isinstance(name, str) else ("", "", "")
    if not dash or not base or not quote or "-" in quote:
        raise UnsupportedMarket(f"not a Coinbase product id: {name!r}")
    return base, quote, "spot"


def has_asset_context(market_type):
    """Coinbase spot has neither funding nor open interest."""
    return False
