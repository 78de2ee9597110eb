"""The Django admin for reference data: lists, search, filters, inline, bulk actions."""

import pytest
from django.contrib.auth import get_user_model

from apps.markets.models import Starlisting


@pytest.fixture
def admin_client(client, world):
    user = get_user_model().objects.create_superuser("ops", "ops@example.com", "pw-for-tests-only")
    client.force_login(user)
    return client


@pytest.mark.parametrize(
    "model", ["exchange", "coin", "quotecurrency", "markettype", "interval", "tradingpair", "starlisting"]
)
def test_every_reference_model_has_a_searchable_list(admin_client, model):
    response = admin_client.get(f"/admin/markets/{model}/", {"q": "BTC"})

    assert response.status_code == 200


def test_the_starlisting_list_filters_by_interval_and_searches_by_coin(admin_client, world):
    hourly = admin_client.get("/admin/markets/starlisting/", {"interval__id__exact": world.btc_1h.interval_id})
    sol = admin_client.get("/admin/markets/starlisting/", {"q": "SOL"})

    assert hourly.context["cl"].result_count == 1
    assert [s.id for s in sol.context["cl"].result_list] == [world.sol_1m.id]


def test_starlistings_are_edited_inline_under_their_trading_pair(admin_client, world):
    page = admin_client.get(f"/admin/markets/tradingpair/{world.btc_pair.id}/change/").content.decode()

    assert "starlistings-TOTAL_FORMS" in page
    assert 'value="2" name="starlistings-TOTAL_FORMS"' in page or 'name="starlistings-TOTAL_FORMS" value="2"' in page


@pytest.mark.parametrize("action, expected", [("deactivate", False), ("activate", True)])
def test_bulk_actions_switch_starlistings_on_and_off(admin_client, world, action, expected):
    Starlisting.objects.update(active=not expected)
    chosen = [world.btc_1m.id, world.sol_1m.id]

    response = admin_client.post(
        "/admin/markets/starlisting/", {"action": action, "_selected_action": chosen}, follow=True
    )

    assert response.status_code == 200
    assert dict(Starlisting.objects.values_list("id", "active")) == {
        world.btc_1m.id: expected,
        world.btc_1h.id: not expected,
        world.sol_1m.id: expected,
    }


def test_a_bulk_deactivation_reaches_the_read_api_at_once(admin_client, world):
    url = "/candles/hyperliquid/BTC/USD/perps/1m"
    assert admin_client.get(url).status_code == 200

    admin_client.post("/admin/markets/starlisting/", {"action": "deactivate", "_selected_action": [world.btc_1m.id]})

    assert admin_client.get(url).status_code == 400
