"""Kirby trading pairs -> Hyperliquid coin names.

Perpetuals are named by coin (``BTC``, ``kPEPE``, builder-deployed
``dex:COIN``); Kirby's perps quote is USD where Hyperliquid settles in USDC.
Spot pairs use Hyperliquid's spot naming ``COIN/QUOTE`` (e.g. ``PURR/USDC``).
"""


def coin_name(coin, quote, market_type):
    if market_type == "spot":
        return f"{coin}/{quote}"
    return coin


def has_asset_context(market_type):
    """activeAssetCtx (funding and open interest) exists for perpetuals only."""
    return market_type != "spot"
