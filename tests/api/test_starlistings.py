"""GET /starlistings and /starlistings/{id}."""

import pytest


def test_it_lists_active_starlistings_ordered_by_id(client, world):
    world.btc_1h.active = False
    world.btc_1h.save()

    body = client.get("/starlistings").json()

    assert [item["id"] for item in body["starlistings"]] == [world.btc_1m.id, world.sol_1m.id]
    assert body["total_count"] == 2


@pytest.mark.parametrize("value", ["false", "False", "0"])
def test_active_only_false_includes_inactive_ones(client, world, value):
    world.btc_1h.active = False
    world.btc_1h.save()

    body = client.get("/starlistings/", {"active_only": value}).json()

    assert [item["id"] for item in body["starlistings"]] == [world.btc_1m.id, world.btc_1h.id, world.sol_1m.id]
    assert [item["active"] for item in body["starlistings"]] == [True, False, True]


def test_an_invalid_active_only_is_a_400_naming_it(client, world):
    response = client.get("/starlistings", {"active_only": "maybe"})

    assert response.status_code == 400
    assert response.json()["errors"][0]["loc"] == ["query", "active_only"]


def test_each_item_carries_the_1x_fields(client, world):
    item = client.get("/starlistings").json()["starlistings"][0]

    assert item == {
        "id": world.btc_1m.id,
        "exchange": "hyperliquid",
        "exchange_display": "Hyperliquid",
        "coin": "BTC",
        "coin_name": "Bitcoin",
        "quote": "USD",
        "quote_name": "US Dollar",
        "trading_pair": "BTC/USD",
        "trading_pair_id": world.btc_pair.id,
        "market_type": "perps",
        "market_type_display": "Perpetuals",
        "interval": "1m",
        "interval_seconds": 60,
        "active": True,
    }


def test_one_starlisting_is_served_even_when_inactive(client, world):
    world.sol_1m.active = False
    world.sol_1m.save()

    response = client.get(f"/starlistings/{world.sol_1m.id}")

    assert response.status_code == 200
    assert (response.json()["coin"], response.json()["active"]) == ("SOL", False)
    assert client.get(f"/starlistings/{world.sol_1m.id}/").status_code == 200


def test_an_unknown_id_is_a_404_naming_it(client, world):
    response = client.get("/starlistings/999")

    assert response.status_code == 404
    assert response.json() == {"detail": "Starlisting with ID 999 not found"}


@pytest.mark.parametrize("bad", ["abc", "0", "-1", "99999999999999999999999"])
def test_a_non_numeric_id_is_a_400(client, world, bad):
    response = client.get(f"/starlistings/{bad}")

    assert response.status_code == 400
    assert response.json()["errors"][0]["loc"] == ["path", "starlisting_id"]


def test_listing_takes_a_fixed_number_of_queries(client, world, django_assert_max_num_queries):
    for interval in ["5m", "15m", "4h", "1d"]:
        world.starlisting(world.sol_pair, interval)

    with django_assert_max_num_queries(2):
        assert client.get("/starlistings").json()["total_count"] == 7
