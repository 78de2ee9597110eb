"""Shared set-up for the benchmarks: a database of their own, Django, 100 starlistings.

The benches never touch the development database: they run against
``kirby_bench`` (or ``KIRBY_BENCH_DATABASE_URL``), created here on first use
and migrated with Django's ``migrate``.
"""

import os
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BENCH_DATABASE_URL = os.environ.get("KIRBY_BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/kirby_bench")
SETTINGS_MODULE = "bench.settings"

EXCHANGE = "benchex"
QUOTE = "USD"
MARKET_TYPE = "perps"
INTERVAL = "1m"


@dataclass(frozen=True)
class Series:
    id: int
    exchange: str
    coin: str
    quote: str
    market_type: str
    interval: str

    @property
    def candles_path(self):
        return f"/candles/{self.exchange}/{self.coin}/{self.quote}/{self.market_type}/{self.interval}"


def bench_environment():
    """The environment for this process and the servers it starts."""
    env = dict(os.environ)
    env["DATABASE_URL"] = BENCH_DATABASE_URL
    env["DJANGO_SETTINGS_MODULE"] = SETTINGS_MODULE
    env.setdefault("DEBUG", "true")  # only so SECRET_KEY may be absent; bench.settings turns DEBUG off
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def create_database():
    import psycopg
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    name = conninfo_to_dict(BENCH_DATABASE_URL)["dbname"]
    if name == "kirby":
        raise SystemExit("refusing to benchmark against the development database 'kirby'")
    with psycopg.connect(make_conninfo(BENCH_DATABASE_URL, dbname="postgres"), autocommit=True) as connection:
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            connection.execute(f'CREATE DATABASE "{name}"')
            print(f"created database {name}")


def setup():
    """Create and migrate the bench database, then set Django up against it."""
    os.environ.update(bench_environment())
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    create_database()
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def ensure_starlistings(count=100):
    """``count`` active 1m starlistings on one bench exchange, created once."""
    from django.db import transaction

    from apps.markets.models import Coin, Exchange, Interval, MarketType, QuoteCurrency, Starlisting, TradingPair

    series = []
    with transaction.atomic():
        exchange, _ = Exchange.objects.get_or_create(name=EXCHANGE, defaults={"display_name": "Bench Exchange"})
        quote, _ = QuoteCurrency.objects.get_or_create(symbol=QUOTE, defaults={"name": "US Dollar"})
        market_type, _ = MarketType.objects.get_or_create(name=MARKET_TYPE, defaults={"display_name": "Perpetuals"})
        interval = Interval.objects.get(name=INTERVAL)
        for number in range(count):
            coin, _ = Coin.objects.get_or_create(symbol=f"BENCH{number:03d}")
            pair, _ = TradingPair.objects.get_or_create(
                exchange=exchange, coin=coin, quote=quote, market_type=market_type
            )
            starlisting, _ = Starlisting.objects.get_or_create(trading_pair=pair, interval=interval)
            series.append(Series(starlisting.id, exchange.name, coin.symbol, quote.symbol, market_type.name, INTERVAL))
    return series


def api_key(username, name, **options):
    """A new read key of ``username`` (created if missing): the secret, as a user's client would send it.

    Every bench serves Kirby as users run it, keys required; ``options`` go to
    ``keys.issue`` (a ``rate_limit`` far above the load, or ``unlimited``), so
    a key is checked and counted on every request but never refused.
    """
    from django.contrib.auth import get_user_model

    from apps.access import keys

    user, _ = get_user_model().objects.get_or_create(username=username)
    return keys.issue(user, name, **options)[1]


def rate(count, seconds):
    return count / seconds if seconds else float("inf")
