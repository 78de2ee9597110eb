"""``manage.py backfill_training``: fill the training database from the exchanges' REST history.

Every starlisting of the training database (optionally narrowed by
``--exchange/--coin/--market-type/--intervals``) whose exchange has an
adapter is paged over ``[start, end)`` (``--days N`` back from now, default
30, or ``--start-time/--end-time``) by the history engine
(apps.backfill.training) and written through the one write path.
Re-running is safe: stored candles are not rewritten. Progress is printed
after every page.
"""

from datetime import UTC, datetime

from django.core.management.base import BaseCommand, CommandError

from apps.backfill.training import fill_candles
from apps.collectors.exchanges import EXCHANGES
from apps.marketdata.export.resolve import SelectionError, parse_intervals
from apps.marketdata.management.commands.export import window_from_options
from apps.markets.models import Starlisting
from lib.databases import DatabaseUnavailable, database_alias
from lib.timeutil import from_ms


def _iso(ms):
    return from_ms(ms).strftime("%Y-%m-%dT%H:%M:%SZ")


class Command(BaseCommand):
    help = "Backfill the training database's starlistings from the exchanges' REST history."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=None, help="the last N days up to now (default 30)")
        parser.add_argument("--start-time", default=None, help="inclusive start, ISO-8601/date/epoch, UTC")
        parser.add_argument("--end-time", default=None, help="exclusive end (default now)")
        parser.add_argument("--intervals", default="all", help="comma-separated intervals (1m,1h) or all")
        parser.add_argument("--exchange", default=None)
        parser.add_argument("--coin", default=None)
        parser.add_argument("--market-type", default=None)
        parser.add_argument("--all", action="store_true", help="every training star (Kirby 1.x; as no filter)")
        parser.add_argument("--database", default="training", help="training (default) or production")

    def handle(self, *args, **options):
        try:
            using = database_alias(options["database"])
            wanted = parse_intervals(options["intervals"])
        except (DatabaseUnavailable, SelectionError) as error:
            raise CommandError(str(error)) from None
        if options["all"] and any(options[name] for name in ("exchange", "coin", "market_type")):
            raise CommandError("--all means every training star: drop --exchange, --coin and --market-type")
        days = options["days"]
        if days is None and not options["start_time"]:
            days = 30
        start, end = window_from_options(days, options["start_time"], options["end_time"])
        end = end or datetime.now(UTC)
        starlistings = self.starlistings(using, options, wanted)
        if not starlistings:
            raise CommandError("no starlistings to backfill (sync them first: sync_starlistings --database training)")
        total = 0
        for starlisting in starlistings:
            exchange = starlisting.trading_pair.exchange.name
            if exchange not in EXCHANGES:
                self.stderr.write(f"skipping {starlisting}: no adapter for exchange {exchange!r}")
                continue
            label = str(starlisting)

            def progress(result, label=label):
                self.stdout.write(
                    f"  {label}: {result.received:,} candles up to {_iso(result.last_ms)}"
                    f" ({result.inserted:,} new, {result.updated:,} updated, {result.rejected:,} rejected;"
                    f" {result.pages} page(s))"
                )

            result = fill_candles(starlisting, start, end, using, progress=progress)
            total += result.received
            self.stdout.write(f"{label}: done, {result.received:,} candles")
        self.stdout.write(self.style.SUCCESS(f"Backfilled {len(starlistings)} starlisting(s): {total:,} candles."))

    @staticmethod
    def starlistings(using, options, wanted):
        query = Starlisting.objects.using(using).filter(active=True, trading_pair__active=True)
        query = query.select_related(
            "interval",
            "trading_pair__exchange",
            "trading_pair__coin",
            "trading_pair__quote",
            "trading_pair__market_type",
        )
        for option, field in (
            ("exchange", "trading_pair__exchange__name"),
            ("coin", "trading_pair__coin__symbol"),
            ("market_type", "trading_pair__market_type__name"),
        ):
            if options[option]:
                query = query.filter(**{f"{field}__iexact": options[option]})
        if wanted != "all":
            query = query.filter(interval__name__in=wanted)
        return list(query.order_by("trading_pair_id", "interval__seconds"))
