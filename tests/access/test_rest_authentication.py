"""Every authentication outcome of API.md on REST, with its exact status and text."""

import time
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from apps.access import keys
from tests.access.conftest import CANDLES, issue
from tests.conftest import keyed_client


def refused(response, status, detail):
    assert response.status_code == status, response.content
    assert response.json() == {"detail": detail}
    if status == 401:
        assert response["WWW-Authenticate"] == "Bearer"
    return True


def test_a_request_without_a_key_is_told_how_to_send_one(anonymous, world):
    assert refused(anonymous.get(CANDLES), 401, "API key required. Provide via Authorization: Bearer <key>")


@pytest.mark.parametrize("key", ["kb_nothere1.abcdefghijklmnopqrstuvwxyz0123456789ABCD", "not-a-kirby-key", "kb_"])
def test_an_unknown_or_malformed_key_is_invalid(world, key):
    assert refused(keyed_client(key).get(CANDLES), 401, "Invalid API key")


def test_a_known_prefix_with_a_wrong_secret_is_invalid(world):
    key = issue()[1]
    assert refused(keyed_client(key[:-4] + "XXXX").get(CANDLES), 401, "Invalid API key")


def test_an_inactive_key_is_refused_and_works_again_once_activated(world):
    row, key = issue()
    row.active = False
    row.save()
    assert refused(keyed_client(key).get(CANDLES), 401, "API key is inactive")

    row.active = True
    row.save()
    assert keyed_client(key).get(CANDLES).status_code == 200


def test_a_revoked_key_is_refused_as_inactive(world):
    row, key = issue()
    assert keyed_client(key).get(CANDLES).status_code == 200
    row.revoke()
    assert refused(keyed_client(key).get(CANDLES), 401, "API key is inactive")


def test_an_expired_key_is_refused(world, expired_key):
    assert refused(keyed_client(expired_key).get(CANDLES), 401, "API key has expired")


def test_a_cached_key_still_expires_on_time(world, settings):
    settings.KIRBY_API_KEY_CACHE_SECONDS = 3600
    expires_at = timezone.now() + timedelta(seconds=1.5)
    key = issue(expires_at=expires_at)[1]
    assert keyed_client(key).get(CANDLES).status_code == 200
    assert timezone.now() < expires_at  # the key was verified, and cached, while still valid
    deadline = time.monotonic() + 10
    while timezone.now() <= expires_at and time.monotonic() < deadline:  # wait for the clock, not a guess of it
        time.sleep(0.05)
    assert refused(keyed_client(key).get(CANDLES), 401, "API key has expired")


def test_the_key_of_an_inactive_user_is_forbidden(world):
    row, key = issue()
    get_user_model().objects.filter(id=row.owner_id).update(is_active=False)
    keys.forget_all()
    assert refused(keyed_client(key).get(CANDLES), 403, "User account is inactive")


def test_deactivating_a_user_through_django_takes_effect_at_once(world):
    row, key = issue()
    assert keyed_client(key).get(CANDLES).status_code == 200
    owner = row.owner
    owner.is_active = False
    owner.save()
    assert refused(keyed_client(key).get(CANDLES), 403, "User account is inactive")


def test_a_read_key_may_not_manage_keys(world, client):
    assert refused(client.get("/admin/users"), 403, "Admin privileges required")
    assert refused(client.post("/admin/users", {"username": "x"}, content_type="application/json"), 403,
                   "Admin privileges required")  # fmt: skip


def test_an_admin_key_reads_market_data_too(world, admin_api):
    assert admin_api.get(CANDLES).status_code == 200
    assert admin_api.get("/admin/users").status_code == 200


DATA = [CANDLES, "/funding/hyperliquid/BTC/USD/perps", "/open-interest/hyperliquid/BTC/USD/perps", "/starlistings"]


@pytest.mark.parametrize("path", [*DATA, "/starlistings/1"])
def test_every_data_endpoint_needs_a_key(anonymous, world, path):
    assert anonymous.get(path).status_code == 401


def test_the_key_can_come_in_an_x_api_key_header(world, api_key):
    assert Client(headers={"X-API-Key": api_key}).get(CANDLES).status_code == 200


@pytest.mark.parametrize("path", ["/", "/health", "/livez", "/api/schema/", "/docs", "/redoc"])
def test_public_endpoints_need_no_key(anonymous, world, path):
    assert anonymous.get(path).status_code == 200


def test_an_unknown_path_is_404_with_or_without_a_key(anonymous, client, world):
    assert anonymous.get("/no/such/thing").json() == {"detail": "Not Found"}
    assert client.get("/no/such/thing").status_code == 404


def test_a_bad_key_on_a_public_endpoint_is_ignored(world):
    assert keyed_client("kb_wrong").get("/").status_code == 200


def test_with_auth_switched_off_no_key_is_needed_and_nothing_is_limited(anonymous, world, settings):
    settings.KIRBY_AUTH_REQUIRED = False
    response = anonymous.get(CANDLES)
    assert response.status_code == 200
    assert "X-RateLimit-Limit" not in response


def test_a_known_key_costs_no_database_query_or_write(world, api_key, django_assert_num_queries, settings):
    client = keyed_client(api_key)
    client.get(CANDLES)  # the key is read once and remembered
    settings.KIRBY_AUTH_REQUIRED = False
    with django_assert_num_queries(1) as anonymous_queries:
        Client().get(CANDLES + "?start_time=2026-01-01")
    settings.KIRBY_AUTH_REQUIRED = True
    with django_assert_num_queries(len(anonymous_queries)):
        client.get(CANDLES + "?start_time=2026-01-01")


def test_a_key_without_the_read_scope_is_forbidden_market_data(world):
    key = issue(scopes=[])[1]
    assert refused(keyed_client(key).get(CANDLES), 403, "Read privileges required")
