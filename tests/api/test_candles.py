"""GET /candles/{exchange}/{coin}/{quote}/{market_type}/{interval} as API.md specifies."""

from datetime import timedelta
from decimal import Decimal

import pytest

from apps.marketdata.writer import write_candles
from tests.conftest import candle, utc

T0 = utc(2026, 11, 20, 0, 0)
URL = "/candles/hyperliquid/BTC/USD/perps/1m"


def load(starlisting, count, start=T0, step=timedelta(minutes=1)):
    write_candles([candle(starlisting, start + i * step, close=str(100 + i % 10)) for i in range(count)])
    return [start + i * step for i in range(count)]


def times(response):
    return [item["time"] for item in response.json()["data"]]


def z(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_without_start_time_it_returns_the_most_recent_candles_ascending(client, world):
    stamps = load(world.btc_1m, 10)

    response = client.get(URL, {"limit": 3})

    assert response.status_code == 200
    assert times(response) == [z(t) for t in stamps[-3:]]


def test_the_default_limit_is_1000(client, world):
    stamps = load(world.btc_1m, 1001)

    data = client.get(URL).json()["data"]

    assert len(data) == 1000
    assert data[0]["time"] == z(stamps[1]) and data[-1]["time"] == z(stamps[-1])


def test_limit_5000_is_allowed(client, world):
    load(world.btc_1m, 5001)

    assert len(client.get(URL, {"limit": 5000}).json()["data"]) == 5000


@pytest.mark.parametrize("limit", ["0", "5001", "-1", "abc", "1.5", ""])
def test_a_limit_outside_1_to_5000_is_a_400_naming_limit(client, world, limit):
    response = client.get(URL, {"limit": limit})

    assert response.status_code == 400
    body = response.json()
    assert body["errors"][0]["loc"] == ["query", "limit"]
    assert "limit" in body["detail"]


def test_the_window_is_half_open(client, world):
    stamps = load(world.btc_1m, 10)

    response = client.get(URL, {"start_time": z(stamps[2]), "end_time": z(stamps[5])})

    assert times(response) == [z(t) for t in stamps[2:5]]
    metadata = response.json()["metadata"]
    assert (metadata["start_time"], metadata["end_time"], metadata["count"]) == (z(stamps[2]), z(stamps[5]), 3)


def test_with_start_time_it_returns_the_first_limit_candles_from_start(client, world):
    stamps = load(world.btc_1m, 10)

    assert times(client.get(URL, {"start_time": z(stamps[4]), "limit": 2})) == [z(stamps[4]), z(stamps[5])]


def test_with_only_end_time_it_returns_the_most_recent_before_end(client, world):
    stamps = load(world.btc_1m, 10)

    assert times(client.get(URL, {"end_time": z(stamps[6]), "limit": 2})) == [z(stamps[4]), z(stamps[5])]


@pytest.mark.parametrize(
    "start",
    [
        "2026-11-20T00:03:00Z",
        "2026-11-20T00:03:00+00:00",
        "2026-11-20T01:03:00+01:00",
        "2026-11-20T00:03:00",  # naive means UTC
        "2026-11-20 00:03:00",
        str(int(utc(2026, 11, 20, 0, 3).timestamp())),
        str(int(utc(2026, 11, 20, 0, 3).timestamp()) * 1000),
    ],
)
def test_times_are_accepted_as_iso_or_epoch_seconds_or_milliseconds(client, world, start):
    stamps = load(world.btc_1m, 5)

    assert times(client.get(URL, {"start_time": start})) == [z(stamps[3]), z(stamps[4])]


def test_a_bare_date_means_midnight_utc(client, world):
    stamps = load(world.btc_1m, 3, start=utc(2026, 11, 19, 23, 59))

    assert times(client.get(URL, {"start_time": "2026-11-20"})) == [z(stamps[1]), z(stamps[2])]


@pytest.mark.parametrize("name", ["start_time", "end_time"])
@pytest.mark.parametrize("value", ["yesterday", "2026-13-01", "-5", "99999999999999999999999", "2026-11-20T25:00"])
def test_an_unparseable_time_is_a_400_naming_the_parameter(client, world, name, value):
    response = client.get(URL, {name: value})

    assert response.status_code == 400
    assert response.json()["errors"] == [{"loc": ["query", name], "msg": response.json()["errors"][0]["msg"]}]


@pytest.mark.parametrize("end", ["2026-11-20T00:00:00Z", "2026-11-19T00:00:00Z"])
def test_a_window_with_start_at_or_after_end_is_a_400(client, world, end):
    response = client.get(URL, {"start_time": "2026-11-20T00:00:00Z", "end_time": end})

    assert response.status_code == 400
    assert response.json()["errors"][0]["loc"] == ["query", "end_time"]


def test_every_bad_parameter_is_named_in_one_response(client, world):
    response = client.get(URL, {"start_time": "nope", "limit": "0"})

    assert [error["loc"] for error in response.json()["errors"]] == [["query", "start_time"], ["query", "limit"]]


def test_items_carry_exact_decimal_strings_in_plain_notation(client, world):
    write_candles([candle(world.btc_1m, T0, open="1E-8", high="0.0000000200", low="1E-8", close="0.000000015",
                          volume="0", num_trades=None, closed=False)])  # fmt: skip

    (item,) = client.get(URL).json()["data"]

    assert item == {
        "time": "2026-11-20T00:00:00Z",
        "open": "0.00000001",
        "high": "0.0000000200",
        "low": "0.00000001",
        "close": "0.000000015",
        "volume": "0",
        "num_trades": None,
        "closed": False,
    }


def test_metadata_describes_the_series(client, world):
    load(world.btc_1m, 2)

    metadata = client.get("/candles/hyperliquid/btc/usd/perps/1m").json()["metadata"]

    assert metadata == {
        "exchange": "hyperliquid",
        "coin": "BTC",
        "quote": "USD",
        "trading_pair": "BTC/USD",
        "market_type": "perps",
        "interval": "1m",
        "count": 2,
        "start_time": None,
        "end_time": None,
    }


def test_coin_and_quote_are_case_insensitive_but_the_interval_is_not(client, world):
    load(world.btc_1m, 1)
    month = world.starlisting(world.btc_pair, "1M")
    write_candles([candle(month, utc(2026, 11, 1), close="99")])

    assert client.get("/candles/hyperliquid/btc/Usd/perps/1m").json()["data"][0]["close"] == "100"
    assert client.get("/candles/hyperliquid/BTC/USD/perps/1M").json()["data"][0]["close"] == "99"


def test_paths_work_with_and_without_a_trailing_slash(client, world):
    assert client.get(URL).status_code == 200
    assert client.get(URL + "/").status_code == 200


def test_an_unknown_starlisting_is_a_404_naming_it(client, world):
    response = client.get("/candles/hyperliquid/BTC/USD/perps/5m")

    assert response.status_code == 404
    assert response.json() == {"detail": "Starlisting not found: hyperliquid/BTC/USD/perps/5m"}


def test_an_inactive_starlisting_is_a_400(client, world):
    world.btc_1m.active = False
    world.btc_1m.save()

    response = client.get(URL)

    assert response.status_code == 400
    assert response.json() == {"detail": "Starlisting is not active: hyperliquid/BTC/USD/perps/1m"}


def test_candles_of_other_series_are_not_mixed_in(client, world):
    load(world.btc_1m, 3)
    load(world.btc_1h, 2, step=timedelta(hours=1))
    load(world.sol_1m, 4)

    assert len(client.get(URL).json()["data"]) == 3
    assert len(client.get("/candles/hyperliquid/SOL/USD/perps/1m").json()["data"]) == 4


def test_num_trades_is_an_integer(client, world):
    write_candles([candle(world.btc_1m, T0, num_trades=1234)])

    assert client.get(URL).json()["data"][0]["num_trades"] == 1234


def test_decimal_values_survive_a_round_trip_exactly(client, world):
    values = dict(open="91234.123456789012345678", high="91300.5", low="91000.000000000000000001",
                  close="91250", volume="1234567.00000001")  # fmt: skip
    write_candles([candle(world.btc_1m, T0, **values)])

    item = client.get(URL).json()["data"][0]

    assert {k: Decimal(item[k]) for k in values} == {k: Decimal(v) for k, v in values.items()}
    assert {k: item[k] for k in values} == values


def test_the_series_lookup_is_cached_between_requests(client, world, django_assert_num_queries):
    client.get(URL)

    with django_assert_num_queries(1):  # the candle query only
        assert client.get(URL, {"start_time": "2026-11-20"}).status_code == 200


def test_a_change_to_the_starlisting_shows_at_once_despite_the_cache(client, world):
    assert client.get(URL).status_code == 200
    world.btc_1m.active = False
    world.btc_1m.save()

    assert client.get(URL).status_code == 400


def test_the_newest_candles_are_the_same_whether_they_are_recent_or_years_old(client, world):
    from django.utils import timezone

    now = timezone.now().replace(second=0, microsecond=0)
    old = load(world.btc_1m, 3, start=utc(2021, 3, 1))  # other months, years back
    recent = load(world.btc_1m, 4, start=now - timedelta(minutes=4))

    assert times(client.get(URL, {"limit": 4})) == [z(t) for t in recent]  # found among the recent months
    assert times(client.get(URL, {"limit": 6})) == [z(t) for t in old[1:] + recent]  # older ones needed too
    assert times(client.get(URL, {"limit": 2, "end_time": z(recent[0])})) == [z(t) for t in old[1:]]
