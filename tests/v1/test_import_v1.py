"""``import_v1`` against a real 1.x database: reference rows, series, users and keys; idempotent; verified;
1.x keys authenticate on REST and /ws as they did."""

import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from asgiref.sync import async_to_sync
from django.core.management import call_command
from django.db import connection

from apps.access import keys
from apps.access.models import V1_KEY, ApiKey
from apps.marketdata.models import Candle, FundingRate, OpenInterest
from apps.markets.models import Starlisting, TradingPair
from tests.conftest import keyed_client
from tests.streaming.conftest import Connection
from tests.v1.source import key_hash, v1_database

ADMIN_KEY = "kb_" + "a1b2c3d4e5" * 4
BOT_KEY = "kb_" + "0123456789" * 4
REVOKED_KEY = "kb_" + "fedcba9876" * 4
EXPIRED_KEY = "kb_" + "5555566666" * 4
T0 = datetime(2025, 11, 17, 22, 0, tzinfo=UTC)


def _fill(url):
    import psycopg

    now = datetime.now(UTC)
    hour = now.replace(minute=0, second=0, microsecond=0)
    with psycopg.connect(url, autocommit=True) as db:
        db.execute("INSERT INTO exchanges (name, display_name, active) VALUES ('hyperliquid', 'Hyperliquid', true)")
        db.execute("INSERT INTO coins (symbol, name, active) VALUES ('BTC', 'Bitcoin', true), ('SOL', 'Solana', true)")
        db.execute("INSERT INTO market_types (name, display_name, active) VALUES ('perps', 'Perpetuals', true)")
        db.execute(
            "INSERT INTO trading_pairs (exchange_id, coin_id, quote_currency_id, market_type_id)"
            " VALUES (1,1,1,1), (1,2,1,1)"
        )
        # 1: BTC 1m, 2: BTC 1h, 3: SOL 1m (inactive)
        db.execute(
            "INSERT INTO starlistings (exchange_id, coin_id, quote_currency_id, market_type_id, interval_id,"
            " trading_pair_id, active) VALUES (1,1,1,1,1,1,true), (1,1,1,1,6,1,true), (1,2,1,1,1,2,false)"
        )
        rows = []
        for i in range(30):
            # exponent-form decimals, as 1.x's Python wrote them; one minute has zero volume
            volume = "0E-18" if i == 3 else f"{11 + i}.59747"
            rows.append((T0 + timedelta(minutes=i), 1, "9.2225E+4", "92230", "9.2204E+4", "92215.5", volume, 172 + i))
        rows.append((T0 + timedelta(minutes=30), 1, "92225", "92230", "92204", "92215", "1.5", -1))  # Kirby refuses
        rows += [(hour - timedelta(hours=2 - i), 2, "100", "110", "90", "105", "1E-7", None) for i in range(3)]
        rows += [(T0 + timedelta(minutes=i), 3, "150.25", "151", "150", "150.5", "3", 9) for i in range(5)]
        with db.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO candles (time, starlisting_id, open, high, low, close, volume, num_trades)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                rows,
            )
            funding = [
                # a backfilled row: premium set, prices NULL; a live row with everything; zero rate in exponent form
                (
                    T0 + timedelta(minutes=i),
                    1,
                    "1.25E-5" if i else "0E-18",
                    "-0.0001419198",
                    *([None] * 4 if i % 2 else ["91587", "91601", "91601", "91587.5"]),
                )
                for i in range(10)
            ]
            funding.append((T0 + timedelta(minutes=10), 1, "0.0000125", None, "0", None, None, None))  # refused
            cursor.executemany(
                "INSERT INTO funding_rates (time, trading_pair_id, funding_rate, premium, mark_price, index_price,"
                " oracle_price, mid_price) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                funding,
            )
            interest = [(T0 + timedelta(minutes=i), 2, f"29242.{i}", None, "42898.6", None) for i in range(8)]
            interest.append((T0 + timedelta(minutes=8), 2, "-1", None, None, None))  # refused
            cursor.executemany(
                "INSERT INTO open_interest (time, trading_pair_id, open_interest, notional_value, day_base_volume,"
                " day_notional_volume) VALUES (%s, %s, %s, %s, %s, %s)",
                interest,
            )
            db.execute(
                "INSERT INTO users (email, username, is_admin) VALUES ('admin@localhost', 'admin', true),"
                " ('bob@example.com', 'bob', false)"
            )
            cursor.executemany(
                "INSERT INTO api_keys (user_id, key_hash, key_prefix, name, is_active, rate_limit, expires_at,"
                " last_used_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                [
                    (1, key_hash(ADMIN_KEY), ADMIN_KEY[:10], "Admin Key", True, None, None, None),
                    (2, key_hash(BOT_KEY), BOT_KEY[:8], "trading bot", True, 60, now + timedelta(days=30), T0),
                    (2, key_hash(REVOKED_KEY), REVOKED_KEY[:8], None, False, None, None, None),
                    (2, key_hash(EXPIRED_KEY), EXPIRED_KEY[:8], "old", True, None, now - timedelta(days=1), None),
                ],
            )


def _import(url):
    out = io.StringIO()
    call_command("import_v1", source=url, quiet_progress=True, stdout=out)
    keys.forget_all()
    return out.getvalue()


def _table_line(report, table):
    line = next(line for line in report.splitlines() if line.startswith(f"{table} "))
    return [int(n) for n in line.split()[1:]]


async def _ws_pong(key):
    ws = await Connection(f"/ws?api_key={key}").open()
    try:
        return (await ws.request({"action": "ping"}))["type"]
    finally:
        await ws.close()


async def _ws_refusal(key):
    ws = await Connection(f"/ws?api_key={key}").open()
    closing = await ws.communicator.receive_output(timeout=5)
    return closing["code"], closing["reason"]


@pytest.mark.usefixtures("transactional_db", "django_db_serialized_rollback")
def test_a_1x_database_is_imported_verified_and_its_keys_keep_working():
    settings = connection.settings_dict
    database_url = f"postgres://{settings['USER']}@{settings['HOST']}:{settings['PORT']}/{settings['NAME']}"
    with v1_database(database_url, f"{settings['NAME']}_v1src") as url:
        _fill(url)
        report = _import(url)
        assert _table_line(report, "candles") == [39, 38, 1]
        assert "num_trades=-1" in report  # the refused row is named
        assert _table_line(report, "funding_rates") == [11, 10, 1]
        assert _table_line(report, "open_interest") == [9, 8, 1]
        assert _table_line(report, "api_keys") == [4, 4, 0]
        assert "All 5 series verified." in report

        again = _import(url)
        for table in ("exchanges", "coins", "trading_pairs", "starlistings", "candles", "funding_rates", "users"):
            assert _table_line(again, table)[1] == 0, again
        assert "All 5 series verified." in again

    # Reference rows and the 1.x quirks, as Kirby now holds them
    sol = Starlisting.objects.get(trading_pair__coin__symbol="SOL", interval__name="1m")
    btc_1m = Starlisting.objects.get(trading_pair__coin__symbol="BTC", interval__name="1m")
    assert not sol.active and btc_1m.active and TradingPair.objects.count() == 2
    first = Candle.objects.get(starlisting_id=btc_1m.id, time=T0 + timedelta(minutes=3))
    assert (first.open, first.low, first.volume, first.closed) == (Decimal(92225), Decimal(92204), 0, True)
    hourly = list(
        Candle.objects.filter(starlisting__interval__name="1h").order_by("time").values_list("closed", "volume")
    )
    assert hourly == [
        (True, Decimal("1E-7")),
        (True, Decimal("1E-7")),
        (False, Decimal("1E-7")),
    ]  # the hour still forming
    assert Candle.objects.count() == 38 and FundingRate.objects.count() == 10 and OpenInterest.objects.count() == 8
    zero = FundingRate.objects.get(time=T0)
    assert zero.funding_rate == 0 and zero.mark_price == Decimal("91587")
    assert FundingRate.objects.get(time=T0 + timedelta(minutes=1)).mark_price is None

    # 1.x keys: as they were, marked legacy; scopes from 1.x's is_admin
    bot = ApiKey.objects.get(v1_key_hash=key_hash(BOT_KEY))
    assert (bot.name, bot.rate_limit, bot.last_used_at, bot.scopes, bot.active) == (
        "trading bot",
        60,
        T0,
        ["read"],
        True,
    )
    admin = keyed_client(ADMIN_KEY)
    assert admin.get("/admin/users").status_code == 200
    listed = admin.get(f"/admin/users/{bot.owner_id}/keys").json()
    listed = listed["keys"] if isinstance(listed, dict) else listed
    assert {k["legacy"] for k in listed} == {True} and {k["prefix"] for k in listed} >= {BOT_KEY[:8]}
    bot_client = keyed_client(BOT_KEY)
    candles = bot_client.get("/candles/hyperliquid/BTC/USD/perps/1m", {"start_time": "2025-11-17T22:00:00Z"})
    assert candles.status_code == 200 and len(candles.json()["data"]) == 30
    assert bot_client.get("/admin/users").json()["detail"] == "Admin privileges required"
    assert keyed_client(REVOKED_KEY).get("/starlistings").json()["detail"] == "API key is inactive"
    assert keyed_client(EXPIRED_KEY).get("/starlistings").json()["detail"] == "API key has expired"
    assert keyed_client("kb_" + "9" * 40).get("/starlistings").json()["detail"] == "Invalid API key"

    # /ws: the same keys, the same verdicts
    assert async_to_sync(_ws_pong)(ADMIN_KEY) == "pong"
    assert async_to_sync(_ws_refusal)(REVOKED_KEY) == (4001, "API key is inactive")

    # Rotating a 1.x key issues a key of Kirby's format; the 1.x key is refused from then on
    rotated = admin.post(f"/admin/keys/{bot.id}/rotate")
    assert rotated.status_code == 201
    new_key = rotated.json()["key"]
    assert not V1_KEY.fullmatch(new_key) and keyed_client(new_key).get("/starlistings").status_code == 200
    keys.forget_all()
    assert keyed_client(BOT_KEY).get("/starlistings").status_code == 401


@pytest.mark.django_db(databases=["default", "training"])
def test_a_1x_training_database_goes_into_kirbys_training_database():
    import psycopg

    settings = connection.settings_dict
    database_url = f"postgres://{settings['USER']}@{settings['HOST']}:{settings['PORT']}/{settings['NAME']}"
    with v1_database(database_url, f"{settings['NAME']}_v1training") as url:
        with psycopg.connect(url, autocommit=True) as db:
            db.execute("INSERT INTO exchanges (name, display_name, active) VALUES ('binance', 'Binance', true)")
            db.execute("INSERT INTO coins (symbol, name, active) VALUES ('ETH', 'Ethereum', true)")
            db.execute("INSERT INTO market_types (name, display_name, active) VALUES ('spot', 'Spot', true)")
            db.execute(
                "INSERT INTO trading_pairs (exchange_id, coin_id, quote_currency_id, market_type_id) VALUES (1,1,2,1)"
            )
            db.execute(
                "INSERT INTO starlistings (exchange_id, coin_id, quote_currency_id, market_type_id, interval_id,"
                " trading_pair_id, active) VALUES (1, 1, 2, 1, 6, 1, true)"
            )
            db.execute(
                "INSERT INTO candles SELECT %s + n * interval '1 hour', 1, 3000, 3010, 2990, 3005, 12.5, 40"
                " FROM generate_series(0, 23) n",
                [T0],
            )
            db.execute("INSERT INTO users (email, username) VALUES ('x@example.com', 'x')")
        out = io.StringIO()
        call_command("import_v1", source=url, database="training", quiet_progress=True, stdout=out)

    assert "All 1 series verified." in out.getvalue() and "users" not in out.getvalue()
    assert Candle.objects.using("training").filter(starlisting__interval__name="1h").count() == 24
    assert not Candle.objects.exists() and not Starlisting.objects.exists()  # production untouched
