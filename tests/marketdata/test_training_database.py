"""The training database: the same schema, reached only when asked for by name."""

import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.core.management import call_command

from apps.marketdata.models import Candle
from apps.marketdata.partitions import existing_partitions
from apps.marketdata.writer import write_candles
from apps.markets.models import Exchange, Starlisting, TradingPair
from tests.conftest import candle, utc
from tests.training import BOTH, TRAINING, TrainingWorld

pytestmark = pytest.mark.django_db(databases=BOTH)


def test_migrations_give_the_training_database_the_market_schema_with_partitions():
    assert existing_partitions("candles", using=TRAINING)
    assert existing_partitions("funding_rates", using=TRAINING)
    assert existing_partitions("open_interest", using=TRAINING)


def test_rows_written_to_the_training_database_stay_there():
    world = TrainingWorld()

    result = write_candles([candle(world.perp_1m, utc(2019, 3, 1, 0, 0))], publish=False, using=TRAINING)

    assert result.inserted == 1
    assert Candle.objects.using(TRAINING).count() == 1
    assert Candle.objects.count() == 0  # the default database never saw it
    assert "candles_p2019_03" in existing_partitions("candles", using=TRAINING)


def test_related_lookups_of_training_objects_stay_in_the_training_database():
    world = TrainingWorld()

    starlisting = Starlisting.objects.using(TRAINING).get(id=world.perp_1m.id)

    assert str(starlisting) == "binance/BTC/USDT/perps/1m"
    assert not Exchange.objects.exists()


def test_the_live_api_never_reads_the_training_database(client):
    world = TrainingWorld()
    write_candles([candle(world.perp_1m, utc(2025, 1, 1, 0, 0))], publish=False, using=TRAINING)

    response = client.get("/candles/binance/BTC/USDT/perps/1m?start_time=2025-01-01")

    assert response.status_code == 404


def test_sync_starlistings_fills_the_training_database_from_training_stars_yaml(capsys):
    call_command("sync_starlistings", "--database", "training")

    pairs = {
        p.path for p in TradingPair.objects.using(TRAINING).select_related("exchange", "coin", "quote", "market_type")
    }
    assert pairs == {
        "binance/BTC/USDT/perps",
        "binance/BTC/USDT/spot",
        "binance/ETH/USDT/perps",
        "binance/SOL/USDT/perps",
    }
    assert Starlisting.objects.using(TRAINING).count() == 24
    assert not TradingPair.objects.exists()
    assert "config/training_stars.yaml" in capsys.readouterr().out


def run_manage(*arguments):
    env = {k: v for k, v in os.environ.items() if k not in ("TRAINING_DATABASE_URL", "DJANGO_SETTINGS_MODULE")}
    env.update(DJANGO_SETTINGS_MODULE="kirby.settings", DEBUG="true")
    return subprocess.run(
        [sys.executable, "manage.py", *arguments], cwd=settings.BASE_DIR, env=env, capture_output=True, text=True
    )


@pytest.mark.parametrize(
    "arguments",
    [
        ["export", "--coin", "BTC", "--database", "training"],
        ["sync_starlistings", "--database", "training"],
        ["backfill_training", "--days", "1"],
    ],
)
def test_commands_that_need_the_training_database_say_so_when_it_is_not_configured(arguments):
    result = run_manage(*arguments)

    assert result.returncode != 0
    assert "the training database is not configured: set TRAINING_DATABASE_URL" in result.stderr
    assert "Traceback" not in result.stderr
