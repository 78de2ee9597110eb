"""Apply a validated starlistings config to the database.

Creates or updates exchanges, coins, quote currencies, market types,
intervals, trading pairs and starlistings in one transaction; writes only
what differs, so a second run reports no changes. With ``prune``, active
starlistings and trading pairs that the file no longer lists are
deactivated (never deleted: their data stays).
"""

from django.db import transaction
from django.db.models.functions import Lower

from apps.markets.models import Coin, Exchange, Interval, MarketType, QuoteCurrency, Starlisting, TradingPair
from apps.markets.signals import reference_data_changed, series_created


class _DryRun(Exception):
    pass


def sync_config(config, *, prune=False, dry_run=False, using="default"):
    changes, created = _sync(config, prune=prune, dry_run=dry_run, using=using)
    if changes and not dry_run:
        reference_data_changed.send(sender=Starlisting)
        if using == "default" and (created[Starlisting] or created[TradingPair]):
            series_created.send(
                sender=Starlisting, starlisting_ids=created[Starlisting], trading_pair_ids=created[TradingPair]
            )
    return changes


def _sync(config, *, prune, dry_run, using):
    """Return the changes made (or that would be made, with ``dry_run``) as (verb, description) pairs,
    and the ids of the starlistings and trading pairs created.

    Verbs: create, update, deactivate.
    """
    changes = []
    sync = _Sync(changes, using)
    try:
        with transaction.atomic(using=using):
            sync.apply(config, prune)
            if dry_run:
                raise _DryRun
    except _DryRun:
        pass
    return changes, sync.created


class _Sync:
    def __init__(self, changes, using):
        self.changes = changes
        self.using = using
        self.created = {Starlisting: [], TradingPair: []}

    def upsert(self, model, label, identity, values):
        """Find by ``identity`` (field lookups), create with identity + values, or update differing values."""
        manager = model.objects.using(self.using)
        obj = manager.filter(**identity).first()
        if obj is None:
            self.changes.append(("create", label))
            obj = manager.create(**identity, **values)
            if model in self.created:
                self.created[model].append(obj.id)
            return obj
        differing = {name: value for name, value in values.items() if getattr(obj, name) != value}
        if differing:
            for name, value in differing.items():
                setattr(obj, name, value)
            obj.save(using=self.using)
            self.changes.append(("update", f"{label}: " + ", ".join(f"{k}={v!r}" for k, v in differing.items())))
        return obj

    def upsert_symbol(self, model, label, entry):
        # Symbols match case-insensitively (the database forbids two that
        # differ only by case); the file's spelling wins.
        manager = model.objects.using(self.using)
        obj = manager.annotate(folded=Lower("symbol")).filter(folded=entry.key.lower()).first()
        identity = {"id": obj.id} if obj else {"symbol": entry.key}
        values = {"name": entry.label, "active": entry.active, **({"symbol": entry.key} if obj else {})}
        return self.upsert(model, f"{label} {entry.key}", identity, values)

    def named(self, model, label, entries):
        return {
            e.key: self.upsert(
                model, f"{label} {e.key}", {"name": e.key}, {"display_name": e.label, "active": e.active}
            )
            for e in entries
        }

    def apply(self, config, prune):
        for entry in config.intervals:
            self.upsert(
                Interval,
                f"interval {entry.name}",
                {"name": entry.name},
                {"seconds": entry.seconds, "active": entry.active},
            )
        exchanges = self.named(Exchange, "exchange", config.exchanges)
        market_types = self.named(MarketType, "market type", config.market_types)
        coins = {c.key.lower(): self.upsert_symbol(Coin, "coin", c) for c in config.coins}
        quotes = {
            q.key.lower(): self.upsert_symbol(QuoteCurrency, "quote currency", q) for q in config.quote_currencies
        }
        intervals = {i.name: i for i in Interval.objects.using(self.using)}

        listed_pairs, listed_starlistings = set(), set()
        for star in config.starlistings:
            identity = {
                "exchange": exchanges[star.exchange],
                "coin": coins[star.coin.lower()],
                "quote": quotes[star.quote.lower()],
                "market_type": market_types[star.market_type],
            }
            pair = self.upsert(
                TradingPair,
                f"trading pair {star.pair_path}",
                identity,
                {
                    "active": star.active,
                    "collect_trades": star.trades,
                    "collect_orderbook": star.orderbook,
                    "orderbook_depth": star.orderbook_depth,
                    "orderbook_every_seconds": star.orderbook_every_seconds,
                },
            )
            listed_pairs.add(pair.id)
            for name in star.intervals:
                starlisting = self.upsert(
                    Starlisting,
                    f"starlisting {star.pair_path}/{name}",
                    {"trading_pair": pair, "interval": intervals[name]},
                    {"active": star.active},
                )
                listed_starlistings.add(starlisting.id)
        if prune:
            self.deactivate_unlisted(listed_pairs, listed_starlistings)

    def deactivate_unlisted(self, listed_pairs, listed_starlistings):
        pair_names = ["exchange", "coin", "quote", "market_type"]
        stale = Starlisting.objects.using(self.using).filter(active=True).exclude(id__in=listed_starlistings)
        for starlisting in stale.select_related(*(f"trading_pair__{n}" for n in pair_names), "interval"):
            self.changes.append(("deactivate", f"starlisting {starlisting}"))
        stale.update(active=False)
        stale_pairs = TradingPair.objects.using(self.using).filter(active=True).exclude(id__in=listed_pairs)
        for pair in stale_pairs.select_related(*pair_names):
            self.changes.append(("deactivate", f"trading pair {pair.path}"))
        stale_pairs.update(active=False)
