"""GET /funding/... and /open-interest/...: per trading pair, newest first."""

from datetime import timedelta
from decimal import Decimal

import pytest

from apps.marketdata.records import FundingRecord, OpenInterestRecord
from apps.marketdata.writer import write_funding, write_open_interest
from tests.conftest import utc

T0 = utc(2026, 11, 20, 0, 0)


def z(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def load_funding(pair, count):
    write_funding(
        [
            FundingRecord(
                pair.id,
                T0 + timedelta(minutes=i),
                Decimal("0.0000125"),
                Decimal("-0.0003"),
                Decimal("91000.5"),
                Decimal("91001"),
                Decimal("91000"),
                None,
                utc(2026, 11, 20, 1),
            )  # fmt: skip
            for i in range(count)
        ]
    )
    return [T0 + timedelta(minutes=i) for i in range(count)]


def load_open_interest(pair, count):
    write_open_interest(
        [
            OpenInterestRecord(
                pair.id, T0 + timedelta(minutes=i), Decimal("0"), None, Decimal("1200.5"), Decimal("109000000.25")
            )  # fmt: skip
            for i in range(count)
        ]
    )
    return [T0 + timedelta(minutes=i) for i in range(count)]


SERIES = {
    "funding": ("/funding/hyperliquid/BTC/USD/perps", load_funding),
    "open-interest": ("/open-interest/hyperliquid/BTC/USD/perps", load_open_interest),
}


@pytest.fixture(params=SERIES)
def series(request):
    return SERIES[request.param]


def test_rows_come_newest_first(client, world, series):
    url, load = series
    stamps = load(world.btc_pair, 5)

    response = client.get(url, {"limit": 3})

    assert response.status_code == 200
    assert [item["time"] for item in response.json()["data"]] == [z(t) for t in reversed(stamps[-3:])]


def test_the_window_is_half_open_and_limited(client, world, series):
    url, load = series
    stamps = load(world.btc_pair, 10)

    data = client.get(url, {"start_time": z(stamps[2]), "end_time": z(stamps[6])}).json()["data"]
    limited = client.get(url, {"start_time": z(stamps[2]), "end_time": z(stamps[6]), "limit": 2}).json()["data"]

    assert [item["time"] for item in data] == [z(t) for t in reversed(stamps[2:6])]
    assert [item["time"] for item in limited] == [z(stamps[5]), z(stamps[4])]


def test_metadata_names_the_trading_pair(client, world, series):
    url, load = series
    load(world.btc_pair, 2)

    metadata = client.get(url.replace("BTC/USD", "btc/usd")).json()["metadata"]

    assert metadata == {
        "exchange": "hyperliquid",
        "coin": "BTC",
        "quote": "USD",
        "trading_pair": "BTC/USD",
        "market_type": "perps",
        "count": 2,
        "start_time": None,
        "end_time": None,
    }


def test_an_unknown_trading_pair_is_a_404(client, world, series):
    url, _ = series
    response = client.get(url.replace("BTC", "DOGE"))

    assert response.status_code == 404
    assert response.json() == {"detail": "Trading pair not found: hyperliquid/DOGE/USD/perps"}


def test_an_inactive_trading_pair_is_a_400(client, world, series):
    url, _ = series
    world.btc_pair.active = False
    world.btc_pair.save()

    response = client.get(url)

    assert response.status_code == 400
    assert response.json() == {"detail": "Trading pair is not active: hyperliquid/BTC/USD/perps"}


def test_bad_parameters_are_400s_naming_them(client, world, series):
    url, _ = series

    response = client.get(url, {"limit": "9999", "end_time": "soon"})

    assert response.status_code == 400
    assert [e["loc"] for e in response.json()["errors"]] == [["query", "end_time"], ["query", "limit"]]


def test_funding_is_served_per_pair_whatever_its_intervals(client, world):
    load_funding(world.btc_pair, 1)

    (item,) = client.get("/funding/hyperliquid/BTC/USD/perps/").json()["data"]

    assert item == {
        "time": "2026-11-20T00:00:00Z",
        "funding_rate": "0.0000125",
        "premium": "-0.0003",
        "mark_price": "91000.5",
        "index_price": "91001",
        "oracle_price": "91000",
        "mid_price": None,
        "next_funding_time": "2026-11-20T01:00:00Z",
    }


def test_open_interest_keeps_zero_as_zero_and_null_as_null(client, world):
    load_open_interest(world.btc_pair, 1)

    (item,) = client.get("/open-interest/hyperliquid/BTC/USD/perps").json()["data"]

    assert item == {
        "time": "2026-11-20T00:00:00Z",
        "open_interest": "0",
        "notional_value": None,
        "day_base_volume": "1200.5",
        "day_notional_volume": "109000000.25",
    }


def test_a_pair_without_data_returns_an_empty_list(client, world, series):
    url, _ = series

    body = client.get(url.replace("BTC", "SOL")).json()

    assert body["data"] == [] and body["metadata"]["count"] == 0


def test_the_newest_funding_rows_are_found_whether_recent_or_old(client, world):
    from django.utils import timezone

    now = timezone.now().replace(second=0, microsecond=0)
    old, recent = utc(2022, 6, 1), [now - timedelta(minutes=n) for n in (2, 1)]
    write_funding([FundingRecord(world.btc_pair.id, t, Decimal("0.0001"), None, None, None, None, None, None)
                   for t in [old, *recent]])  # fmt: skip
    url = "/funding/hyperliquid/BTC/USD/perps"

    newest_two = [item["time"] for item in client.get(url, {"limit": 2}).json()["data"]]
    all_three = [item["time"] for item in client.get(url, {"limit": 3}).json()["data"]]
    assert len(newest_two) == 2 and all_three[:2] == newest_two and all_three[2] == "2022-06-01T00:00:00Z"
