"""The shared world for tests: real PostgreSQL (test database built by the
migrations, partitions included) and real Redis."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.test import Client

from apps.marketdata.records import CandleRecord
from apps.markets.models import Coin, Exchange, Interval, MarketType, QuoteCurrency, Starlisting, TradingPair


def utc(*parts):
    return datetime(*parts, tzinfo=UTC)


@pytest.fixture(scope="session", autouse=True)
def quick_database_reset():
    """A transactional test's database is emptied and refilled in a few queries (tests/database_reset.py)."""
    from django.db.backends.base.creation import BaseDatabaseCreation
    from django.db.backends.postgresql.operations import DatabaseOperations

    from tests.database_reset import delete_statements, load_snapshot

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(BaseDatabaseCreation, "deserialize_db_from_string", load_snapshot)
        patch.setattr(DatabaseOperations, "sql_flush", delete_statements)
        yield


@pytest.fixture(scope="session", autouse=True)
def clean_redis():
    """Start from an empty test Redis database: no leases or queued tasks from earlier runs."""
    from django.conf import settings

    from lib.redis import client as redis_client

    if settings.SETTINGS_MODULE != "tests.settings":
        # Other settings point at a developer's Redis, which must not be flushed.
        pytest.exit(f"run the tests with --ds=tests.settings (make test does), not {settings.SETTINGS_MODULE}")
    redis_client().flushdb()
    yield
    from apps.access.usage import recorder

    recorder.discard()  # uses recorded by tests belong to their rolled-back keys


def database_use(item):
    """(uses a database, transactional) for a test, the way pytest-django decides."""
    names = getattr(item, "fixturenames", ())
    marker = item.get_closest_marker("django_db")
    transactional = "transactional_db" in names or "live_server" in names
    if marker is not None:
        transactional = transactional or bool(marker.kwargs.get("transaction") or marker.kwargs.get("reset_sequences"))
    return transactional or marker is not None or "db" in names, transactional


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item, nextitem):
    """After a transactional test, bring back the migrations' data if the next test expects it.

    A transactional test's database is emptied when it ends (a flush), reference data seeded by the
    migrations (intervals), content types and permissions included; the next transactional test
    reloads them itself (serialized rollback), but a test in a transaction does not. pytest-django
    runs those first, yet under pytest-xdist a worker may get one after a transactional test, so the
    snapshot taken when the test database was created is loaded again.
    """
    result = yield
    if nextitem is not None and database_use(item) == (True, True) and database_use(nextitem) == (True, False):
        from django.db import connections
        from pytest_django.plugin import blocking_manager_key

        from tests.database_reset import load

        with item.config.stash[blocking_manager_key].unblock():
            for connection in connections.all(initialized_only=True):
                snapshot = getattr(connection, "_test_serialized_contents", None)
                if snapshot:
                    load(connection, snapshot)
    return result


@pytest.fixture(autouse=True)
def fresh_response_cache():
    """Each test's reference data is new to the response cache, even rows made without model signals
    (bulk_create, SQL) or rolled back by the test before (ids and names repeat between tests)."""
    from apps.markets.cache import MARKETS_TAG
    from lib import cache

    cache.invalidate([MARKETS_TAG])


def make_key(username="reader", **options):
    """A user and an API key of theirs (read scope unless ``scopes`` says otherwise): the secret."""
    from django.contrib.auth import get_user_model

    from apps.access import keys

    user, _ = get_user_model().objects.get_or_create(username=username)
    return keys.issue(user, options.pop("name", "tests"), **options)[1]


def keyed_client(key):
    return Client(headers={"Authorization": f"Bearer {key}"})


@pytest.fixture
def api_key(db):
    """A read key (in whatever database mode the test runs: ``db`` defers to ``transactional_db``)."""
    return make_key()


@pytest.fixture
def client(api_key):
    """A test client that sends a read key, as every data request must."""
    return keyed_client(api_key)


@pytest.fixture
def admin_api(db):
    """A test client that sends a key with the admin scope (management endpoints)."""
    return keyed_client(make_key("operator", scopes=["read", "admin"]))


@pytest.fixture
def anonymous():
    return Client()


class World:
    """Hyperliquid BTC/USD and SOL/USD perps, with starlistings at 1m and 1h."""

    def __init__(self):
        self.exchange = Exchange.objects.create(name="hyperliquid", display_name="Hyperliquid")
        self.perps = MarketType.objects.create(name="perps", display_name="Perpetuals")
        self.usd = QuoteCurrency.objects.create(symbol="USD", name="US Dollar")
        self.btc = Coin.objects.create(symbol="BTC", name="Bitcoin")
        self.sol = Coin.objects.create(symbol="SOL", name="Solana")
        self.btc_pair = self.pair(self.btc)
        self.sol_pair = self.pair(self.sol)
        self.btc_1m = self.starlisting(self.btc_pair, "1m")
        self.btc_1h = self.starlisting(self.btc_pair, "1h")
        self.sol_1m = self.starlisting(self.sol_pair, "1m")

    def pair(self, coin, **fields):
        return TradingPair.objects.create(
            exchange=self.exchange, coin=coin, quote=self.usd, market_type=self.perps, **fields
        )

    @staticmethod
    def starlisting(pair, interval, **fields):
        return Starlisting.objects.create(trading_pair=pair, interval=Interval.objects.get(name=interval), **fields)


@pytest.fixture
def world(db):
    return World()


@pytest.fixture
def world_committed(transactional_db, django_db_serialized_rollback):
    """The same world, committed, for code that writes from other threads or processes.

    Serialized rollback restores the migrations' seed data (intervals) that
    the flush after a transactional test removes.
    """
    return World()


def candle(starlisting, time, open="100", high="110", low="90", close="105", volume="12.5", num_trades=7, closed=True):
    starlisting_id = starlisting if isinstance(starlisting, int) else starlisting.id
    return CandleRecord(
        starlisting_id,
        time,
        Decimal(open),
        Decimal(high),
        Decimal(low),
        Decimal(close),
        Decimal(volume),
        num_trades,
        closed,
    )
