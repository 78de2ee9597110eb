"""1.x reference rows -> Kirby's, matched by natural key; the id maps the series import needs.

A row Kirby lacks is created with 1.x's values (active flags included); a row
Kirby has already is left as Kirby has it, so a second run changes nothing.
A starlisting's market is taken from its four reference columns (1.x's
unique key); 1.x's ``trading_pair_id`` copy of them is not enforced there, so
a disagreement is reported and the four columns win.
"""

from dataclasses import dataclass, field

from django.db import transaction

from apps.markets.models import Coin, Exchange, Interval, MarketType, QuoteCurrency, Starlisting, TradingPair
from apps.markets.signals import reference_data_changed


@dataclass
class TableCount:
    read: int = 0
    written: int = 0
    rejected: int = 0
    reasons: dict = field(default_factory=dict)  # reason -> count

    def reject(self, reason, count=1):
        self.rejected += count
        self.note(reason, count)

    def note(self, reason, count=1):
        """A reason rows were refused, or changed on the way in."""
        self.reasons[reason] = self.reasons.get(reason, 0) + count


@dataclass
class IdMaps:
    """1.x id -> Kirby id, for starlistings and trading pairs."""

    starlistings: dict = field(default_factory=dict)
    trading_pairs: dict = field(default_factory=dict)
    # 1.x starlisting id -> interval name (the candles' closed flag needs it)
    intervals: dict = field(default_factory=dict)


def _rows(source, sql):
    with source.cursor() as cursor:
        cursor.execute(sql)
        names = [d.name for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _named(model, manager, label, rows, identity, values, counts):
    """Kirby object per 1.x id."""
    by_id = {}
    count = counts.setdefault(label, TableCount())
    for row in rows:
        count.read += 1
        lookup = identity(row)
        obj = manager(model).filter(**lookup).first()
        if obj is None:
            obj = manager(model).create(**{k.replace("__iexact", ""): v for k, v in lookup.items()}, **values(row))
            count.written += 1
        by_id[row["id"]] = obj
    return by_id


def import_reference(source, *, using="default"):
    """Create what Kirby lacks; return (IdMaps, {table: TableCount})."""
    counts = {}

    def manager(model):
        return model.objects.using(using)

    with transaction.atomic(using=using):
        exchanges = _named(
            Exchange,
            manager,
            "exchanges",
            _rows(source, "SELECT id, name, display_name, active FROM exchanges ORDER BY id"),
            lambda r: {"name": r["name"]},
            lambda r: {"display_name": r["display_name"], "active": r["active"]},
            counts,
        )
        coins = _named(
            Coin,
            manager,
            "coins",
            _rows(source, "SELECT id, symbol, name, active FROM coins ORDER BY id"),
            lambda r: {"symbol__iexact": r["symbol"]},
            lambda r: {"name": r["name"], "active": r["active"]},
            counts,
        )
        quotes = _named(
            QuoteCurrency,
            manager,
            "quote_currencies",
            _rows(source, "SELECT id, symbol, name, active FROM quote_currencies ORDER BY id"),
            lambda r: {"symbol__iexact": r["symbol"]},
            lambda r: {"name": r["name"], "active": r["active"]},
            counts,
        )
        market_types = _named(
            MarketType,
            manager,
            "market_types",
            _rows(source, "SELECT id, name, display_name, active FROM market_types ORDER BY id"),
            lambda r: {"name": r["name"]},
            lambda r: {"display_name": r["display_name"], "active": r["active"]},
            counts,
        )
        intervals = _named(
            Interval,
            manager,
            "intervals",
            _rows(source, "SELECT id, name, seconds, active FROM intervals ORDER BY id"),
            lambda r: {"name": r["name"]},
            lambda r: {"seconds": r["seconds"], "active": r["active"]},
            counts,
        )
        maps = IdMaps()
        pairs = {}  # (exchange, coin, quote, market type) Kirby ids -> TradingPair
        pair_count = counts.setdefault("trading_pairs", TableCount())
        star_count = counts.setdefault("starlistings", TableCount())
        stars = _rows(
            source,
            "SELECT id, exchange_id, coin_id, quote_currency_id, market_type_id, interval_id, trading_pair_id, active"
            " FROM starlistings ORDER BY id",
        )

        def pair_of(exchange_id, coin_id, quote_id, market_type_id, active):
            key = (exchanges[exchange_id], coins[coin_id], quotes[quote_id], market_types[market_type_id])
            if key not in pairs:
                identity = dict(zip(("exchange", "coin", "quote", "market_type"), key, strict=True))
                pair = manager(TradingPair).filter(**identity).first()
                if pair is None:
                    pair = manager(TradingPair).create(**identity, active=active)
                    pair_count.written += 1
                pairs[key] = pair
            return pairs[key]

        # A pair is active when one of its 1.x starlistings is (1.x pairs have no flag of their own).
        active_pairs = {s["trading_pair_id"] for s in stars if s["active"]}
        for row in _rows(
            source,
            "SELECT id, exchange_id, coin_id, quote_currency_id, market_type_id FROM trading_pairs ORDER BY id",
        ):
            pair_count.read += 1
            pair = pair_of(
                row["exchange_id"],
                row["coin_id"],
                row["quote_currency_id"],
                row["market_type_id"],
                row["id"] in active_pairs,
            )
            maps.trading_pairs[row["id"]] = pair.id
        for row in stars:
            star_count.read += 1
            pair = pair_of(
                row["exchange_id"], row["coin_id"], row["quote_currency_id"], row["market_type_id"], row["active"]
            )
            if maps.trading_pairs.get(row["trading_pair_id"]) not in (None, pair.id):
                star_count.note(
                    "trading_pair_id disagrees with the starlisting's exchange/coin/quote/market type"
                    " (imported under the latter)"
                )
            interval = intervals[row["interval_id"]]
            star = manager(Starlisting).filter(trading_pair=pair, interval=interval).first()
            if star is None:
                star = manager(Starlisting).create(trading_pair=pair, interval=interval, active=row["active"])
                star_count.written += 1
            maps.starlistings[row["id"]] = star.id
            maps.intervals[row["id"]] = interval.name
    if any(c.written for c in counts.values()):
        reference_data_changed.send(sender=Starlisting)
    return maps, counts
