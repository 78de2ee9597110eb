"""Deterministic funding, open interest and price context per coin and virtual time.

Hyperliquid sends funding and open interest together in ``activeAssetCtx`` (and per asset in
``metaAndAssetCtxs``), with every number as a decimal string. Values follow the coin's candle price
level and change every virtual second, so a collector sampling them sees movement, yet tests can
recompute any value from (seed, coin, time). Coins named ``QUIET...`` mimic assets without a book:
their ``premium``, ``midPx`` and ``impactPxs`` are null.
"""

from .intervals import HOUR, MINUTE
from .market import decimal_text, level_ppm, number, price_ticks, profile, scaled

RATE_DECIMALS = 10
RATE_UNIT = 10**RATE_DECIMALS
INTEREST_UNITS = 125_000
PREMIUM_UNITS = 5_000_000
FUNDING_CAP_UNITS = 40_000_000
MARK_JITTER_PPM = 300


def is_quiet(coin: str) -> bool:
    return coin.startswith("QUIET")


def _rate(units: int) -> str:
    return decimal_text(scaled(units, RATE_DECIMALS))


def _wander_ppm(seed: int, coin: str, minute: int) -> int:
    """A positive scale (ppm) that follows the price level, so volumes and open interest drift with it."""
    return 1_000_000 + 3 * level_ppm(seed, coin, minute)


def premium_units(seed: int, coin: str, t_ms: int) -> int:
    """Premium in units of 1e-10, smooth by the hour with a per-second wobble."""
    hour, into = divmod(t_ms, HOUR)
    a = number(seed, coin, "premium", hour) % (2 * PREMIUM_UNITS + 1) - PREMIUM_UNITS
    b = number(seed, coin, "premium", hour + 1) % (2 * PREMIUM_UNITS + 1) - PREMIUM_UNITS
    wobble = number(seed, coin, "premium-second", t_ms // 1000) % 200_001 - 100_000
    return a + (b - a) * into // HOUR + wobble


def funding_units(premium: int) -> int:
    """Hyperliquid-style hourly funding: interest plus a damped premium, clamped."""
    return max(-FUNDING_CAP_UNITS, min(FUNDING_CAP_UNITS, INTEREST_UNITS + premium // 8))


def funding_rate(seed: int, coin: str, t_ms: int) -> tuple[str, str]:
    """``(fundingRate, premium)`` as decimal strings at ``t_ms``."""
    premium = premium_units(seed, coin, t_ms)
    return _rate(funding_units(premium)), _rate(premium)


def asset_ctx(seed: int, coin: str, t_ms: int) -> dict:
    """The ``ctx`` object of ``activeAssetCtx`` at virtual time ``t_ms``, keys in the exchange's order."""
    p = profile(coin)
    minute, second = t_ms // MINUTE, t_ms // 1000
    jitter = number(seed, coin, "mark", second) % (2 * MARK_JITTER_PPM + 1) - MARK_JITTER_PPM
    mark = price_ticks(seed, coin, minute, jitter)
    premium = premium_units(seed, coin, t_ms)
    oracle = max(1, mark * (RATE_UNIT - premium) // RATE_UNIT)
    mid = max(1, mark + number(seed, coin, "mid", second) % 3 - 1)
    spread = 1 + number(seed, coin, "impact", second) % 4
    day_base_units = p.max_size_units * 4_000 * _wander_ppm(seed, coin, minute - 1440) // 1_000_000
    open_interest_units = p.max_size_units * 9_000 * _wander_ppm(seed, coin, minute // 60 * 60) // 1_000_000
    day_notional = scaled(day_base_units * mark, p.sz_decimals + p.px_decimals)
    quiet = is_quiet(coin)
    return {
        "funding": _rate(funding_units(premium)),
        "openInterest": decimal_text(p.size(open_interest_units)),
        "prevDayPx": decimal_text(p.price(price_ticks(seed, coin, minute - 1440))),
        "dayNtlVlm": decimal_text(day_notional),
        "premium": None if quiet else _rate(premium),
        "oraclePx": decimal_text(p.price(oracle)),
        "markPx": decimal_text(p.price(mark)),
        "midPx": None if quiet else decimal_text(p.price(mid)),
        "impactPxs": None
        if quiet
        else [decimal_text(p.price(max(1, mid - spread))), decimal_text(p.price(mid + spread))],
        "dayBaseVlm": decimal_text(p.size(day_base_units)),
    }


def funding_history(seed: int, coin: str, start_ms: int, end_ms: int, limit: int) -> list[dict]:
    """Hourly funding records with ``start_ms <= time <= end_ms``, ``time`` jittered 0..99 ms past the hour."""
    records = []
    hour = start_ms // HOUR
    while len(records) < limit and hour * HOUR <= end_ms:
        time = hour * HOUR + number(seed, coin, "funding-time", hour) % 100
        if start_ms <= time <= end_ms:
            rate, premium = funding_rate(seed, coin, hour * HOUR)
            records.append({"coin": coin, "fundingRate": rate, "premium": premium, "time": time})
        hour += 1
    return records
