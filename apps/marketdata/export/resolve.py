"""Which series an export reads: a trading pair found from a coin (and optional filters), its intervals.

The exchange, quote and market type may be left out when the coin alone (or
with the ones given) names exactly one trading pair in the chosen database;
otherwise the error lists the choices. Names match case-insensitively,
intervals exactly (``1m`` is a minute, ``1M`` a month).
"""

from dataclasses import dataclass

from apps.markets.intervals import STANDARD_INTERVALS
from apps.markets.models import Starlisting, TradingPair


class SelectionError(Exception):
    pass


@dataclass(frozen=True)
class Pair:
    id: int
    exchange: str
    coin: str
    quote: str
    market_type: str

    @property
    def path(self):
        return f"{self.exchange}/{self.coin}/{self.quote}/{self.market_type}"


def find_pair(using, coin, exchange=None, quote=None, market_type=None):
    pairs = TradingPair.objects.using(using).filter(coin__symbol__iexact=coin)
    for field, value in (("exchange__name", exchange), ("quote__symbol", quote), ("market_type__name", market_type)):
        if value:
            pairs = pairs.filter(**{f"{field}__iexact": value})
    found = [
        Pair(*row)
        for row in pairs.order_by("id").values_list(
            "id", "exchange__name", "coin__symbol", "quote__symbol", "market_type__name"
        )
    ]
    if not found:
        given = ", ".join(
            f"{k} {v}" for k, v in (("exchange", exchange), ("quote", quote), ("market type", market_type)) if v
        )
        raise SelectionError(
            f"no trading pair for coin {coin}" + (f" with {given}" if given else "") + f" in the {_db(using)} database"
        )
    if len(found) > 1:
        choices = ", ".join(pair.path for pair in found)
        raise SelectionError(
            f"coin {coin} is ambiguous: {choices}; choose with --exchange, --quote and/or --market-type"
        )
    return found[0]


def find_intervals(using, pair, wanted):
    """[(interval name, starlisting id)] of ``pair`` for ``wanted`` ("all" or a list of names), by length."""
    rows = (
        Starlisting.objects.using(using)
        .filter(trading_pair_id=pair.id)
        .order_by("interval__seconds")
        .values_list("interval__name", "id")
    )
    available = dict(rows)
    if wanted == "all":
        if not available:
            raise SelectionError(f"{pair.path} has no starlistings (no candles to export)")
        return list(available.items())
    chosen = []
    for name in wanted:
        if name not in STANDARD_INTERVALS:
            raise SelectionError(f"unknown interval {name!r}; known: {' '.join(STANDARD_INTERVALS)}")
        if name not in available:
            raise SelectionError(f"{pair.path} has no {name} starlisting; it has: {', '.join(available) or 'none'}")
        chosen.append((name, available[name]))
    return chosen


def parse_intervals(text):
    """``"1m,15m"`` -> ["1m", "15m"]; ``"all"`` stays "all"."""
    text = (text or "all").strip()
    if text.lower() == "all":
        return "all"
    names = [part.strip() for part in text.split(",") if part.strip()]
    if not names:
        raise SelectionError("--intervals must be 'all' or a comma-separated list such as 1m,15m")
    return list(dict.fromkeys(names))


def _db(using):
    return "production" if using == "default" else using
