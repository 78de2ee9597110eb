"""One bad row never blocks its record type: it is set aside with its reason and the rest is stored."""

import json
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from prometheus_client import REGISTRY

from apps.marketdata.models import Candle, DeadLetter, FundingRate
from apps.marketdata.partitions import existing_partitions
from apps.marketdata.records import CandleRecord, FundingRecord
from apps.marketdata.writer import write_candles, write_funding
from tests.conftest import candle, utc

T0 = utc(2026, 11, 20, 12, 0)


def dead_lettered(record_type, exchange="hyperliquid"):
    value = REGISTRY.get_sample_value(
        "kirby_rows_dead_lettered_total", {"exchange": exchange, "type": record_type}
    )  # fmt: skip
    return value or 0


def minutes(world, n):
    return [candle(world.btc_1m, T0 + timedelta(minutes=i)) for i in range(n)]


def test_a_trade_count_beyond_bigint_is_set_aside_and_the_rest_stored(world):
    rows = minutes(world, 6)
    rows[3] = rows[3]._replace(num_trades=2**63)
    before = dead_lettered("candles")

    result = write_candles(rows, exchange="hyperliquid")

    assert Candle.objects.count() == 5
    assert (result.received, result.inserted, result.dead_lettered) == (6, 5, 1)
    (dead,) = DeadLetter.objects.all()
    assert dead.record_type == "candles" and dead.exchange == "hyperliquid"
    assert "num_trades" in dead.reason and "64-bit" in dead.reason
    payload = json.loads(dead.payload)
    assert payload[1] == rows[3].time.isoformat() and payload[7] == 2**63
    assert dead_lettered("candles") == before + 1
    # The record type is not blocked: the next batch is stored as usual.
    assert write_candles([candle(world.btc_1m, T0 + timedelta(minutes=10))]).inserted == 1


@pytest.mark.parametrize("year", [1, 9999, 2003])
def test_an_absurd_timestamp_creates_no_partitions(world, year):
    partitions = existing_partitions("funding_rates")
    rows = [FundingRecord(world.btc_pair.id, T0 + timedelta(hours=h), "0.0001") for h in range(3)]
    rows.insert(1, FundingRecord(world.btc_pair.id, T0.replace(year=year), "0.0002"))

    result = write_funding(rows)

    assert existing_partitions("funding_rates") == partitions
    assert FundingRate.objects.count() == 3 and result.dead_lettered == 1
    assert f"{year:04d}" in DeadLetter.objects.get().reason


def test_the_earliest_year_is_configurable(world, settings):
    settings.KIRBY_RECORD_EARLIEST_YEAR = 2020
    old = FundingRecord(world.btc_pair.id, utc(2019, 3, 1), "0.0001")

    assert write_funding([old]).dead_lettered == 1
    settings.KIRBY_RECORD_EARLIEST_YEAR = 2019
    assert write_funding([old]).inserted == 1


def test_a_row_the_database_refuses_is_isolated_by_splitting_the_batch(world):
    rows = minutes(world, 9)
    # A value the bounds check lets through and PostgreSQL refuses at COPY ("invalid input syntax").
    rows[6] = CandleRecord(*rows[6][:6], "12,5", 7, True)
    # A later version of a row in the same batch still wins after the split.
    rows.append(candle(world.btc_1m, T0, close="109"))

    result = write_candles(rows)

    assert Candle.objects.count() == 8
    assert str(Candle.objects.get(time=T0).close) == "109"
    assert not Candle.objects.filter(time=rows[6].time).exists()
    (dead,) = DeadLetter.objects.all()
    assert "numeric" in dead.reason
    assert json.loads(dead.payload)[6] == "12,5"
    assert (result.received, result.inserted, result.dead_lettered) == (10, 8, 1)


def test_dead_letters_are_read_only_in_the_admin(client, world):
    write_funding([FundingRecord(world.btc_pair.id, T0.replace(year=1), "0.0002")])
    client.force_login(get_user_model().objects.create_superuser("ops", "ops@example.com", "pw-for-tests-only"))
    dead = DeadLetter.objects.get()

    listing = client.get("/admin/marketdata/deadletter/")
    page = client.get(f"/admin/marketdata/deadletter/{dead.id}/change/")

    assert listing.status_code == 200 and b"outside 2009-01-01" in listing.content
    assert page.status_code == 200 and b"0.0002" in page.content
    assert client.get("/admin/marketdata/deadletter/add/").status_code == 403
    client.post(f"/admin/marketdata/deadletter/{dead.id}/change/", {"reason": "edited"})
    assert DeadLetter.objects.get().reason == dead.reason


def test_a_value_psycopg_cannot_send_is_set_aside_too(world):
    rows = minutes(world, 4)
    rows[2] = CandleRecord(*rows[2][:6], {"volume": "12.5"}, 7, True)

    result = write_candles(rows)

    assert Candle.objects.count() == 3 and result.dead_lettered == 1
    assert "dict" in DeadLetter.objects.get().reason
