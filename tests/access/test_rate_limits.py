"""Requests per minute per key (or per IP without one), with the headers API.md asks for on every response."""

import time

import pytest
from django.test import Client
from django_ratelimit.core import get_usage

from apps.access import limits
from apps.access.models import ADMIN, READ
from tests.access.conftest import CANDLES, issue
from tests.conftest import keyed_client


def in_a_fresh_window(*subjects):
    """Wait, if need be, until the one-minute windows of ``subjects`` ("key:<id>", "ip:<address>") have 5 s left.

    django-ratelimit's windows are fixed and staggered per subject; a test
    counting a few requests must not straddle a reset.
    """
    while min(seconds_left(subject) for subject in subjects) < 6:  # whole seconds, rounded up: 5 s at least
        time.sleep(0.5)


def seconds_left(subject):
    """Seconds to the end of the subject's current window, from django-ratelimit's public ``get_usage``.

    ``increment=False``: asking counts no request.
    """
    usage = get_usage(
        None, group=limits.GROUP, key=lambda group, request: subject, rate=(1, limits.WINDOW_SECONDS), increment=False
    )
    return usage["time_left"]


def quota(response):
    return (
        int(response["X-RateLimit-Limit"]),
        int(response["X-RateLimit-Remaining"]),
        int(response["X-RateLimit-Reset"]),
    )


def test_a_keys_own_limit_applies_and_the_next_request_gets_429_with_retry_after(world):
    row, key = issue(rate_limit=3)
    client = keyed_client(key)
    in_a_fresh_window(f"key:{row.id}")
    responses = [client.get(CANDLES) for _ in range(4)]

    assert [r.status_code for r in responses] == [200, 200, 200, 429]
    assert [quota(r)[:2] for r in responses] == [(3, 2), (3, 1), (3, 0), (3, 0)]
    assert responses[3].json() == {"detail": "Rate limit exceeded"}
    retry_after = int(responses[3]["Retry-After"])
    assert 1 <= retry_after <= 60
    assert abs(quota(responses[3])[2] - (time.time() + retry_after)) <= 2  # the reset is a Unix time


def test_keys_are_counted_separately(world):
    (row_a, key_a), (row_b, key_b) = issue("a", rate_limit=1), issue("b", rate_limit=1)
    first, second = keyed_client(key_a), keyed_client(key_b)
    in_a_fresh_window(f"key:{row_a.id}", f"key:{row_b.id}")
    assert first.get(CANDLES).status_code == 200
    assert second.get(CANDLES).status_code == 200
    assert first.get(CANDLES).status_code == 429


def test_the_default_limit_comes_from_the_environment(world, settings, api_key):
    settings.KIRBY_RATE_LIMIT_PER_MINUTE = 7
    assert quota(keyed_client(api_key).get(CANDLES))[:2] == (7, 6)


@pytest.mark.parametrize("path", [CANDLES + "?limit=0", "/candles/nowhere/BTC/USD/perps/1m", "/no/such/path"])
def test_error_responses_carry_the_headers_too(client, world, path):
    response = client.get(path)
    assert response.status_code in (400, 404)
    assert quota(response)[0] == 100


def test_requests_without_a_valid_key_are_limited_per_ip(world, settings):
    settings.KIRBY_RATE_LIMIT_ANON_PER_MINUTE = 2
    anonymous = Client(REMOTE_ADDR="10.1.2.3")
    in_a_fresh_window("ip:10.1.2.3")
    assert [anonymous.get("/").status_code, anonymous.get(CANDLES).status_code] == [200, 401]
    refused = anonymous.get("/")
    assert refused.status_code == 429 and refused["Retry-After"]
    assert Client(REMOTE_ADDR="10.9.9.9").get("/").status_code == 200  # another address has its own count


def test_probes_are_never_limited(world, settings):
    settings.KIRBY_RATE_LIMIT_ANON_PER_MINUTE = 1
    anonymous = Client(REMOTE_ADDR="10.1.2.4")
    responses = [anonymous.get("/livez") for _ in range(3)]
    assert [r.status_code for r in responses] == [200, 200, 200]
    assert "X-RateLimit-Limit" not in responses[0]


def test_the_client_address_comes_from_the_proxy_header_when_configured(world, settings):
    settings.KIRBY_RATE_LIMIT_ANON_PER_MINUTE = 1
    settings.KIRBY_CLIENT_IP_HEADER = "X-Real-IP"
    behind_proxy = Client(REMOTE_ADDR="10.0.0.1")
    in_a_fresh_window("ip:203.0.113.7")
    assert behind_proxy.get("/", headers={"X-Real-IP": "203.0.113.7"}).status_code == 200
    assert behind_proxy.get("/", headers={"X-Real-IP": "203.0.113.8"}).status_code == 200
    assert behind_proxy.get("/", headers={"X-Real-IP": "203.0.113.7"}).status_code == 429


@pytest.mark.parametrize("options", [{"scopes": [READ, ADMIN]}, {"unlimited": True}])
def test_admin_and_unlimited_keys_are_exempt(world, settings, options):
    settings.KIRBY_RATE_LIMIT_PER_MINUTE = 2
    client = keyed_client(issue(**options)[1])
    responses = [client.get(CANDLES) for _ in range(5)]
    assert {r.status_code for r in responses} == {200}
    assert "X-RateLimit-Limit" not in responses[-1]


def test_rate_limits_can_be_switched_off_while_keys_stay_required(world, settings, anonymous, api_key):
    settings.KIRBY_RATE_LIMIT_ENABLED = False
    settings.KIRBY_RATE_LIMIT_PER_MINUTE = 1
    client = keyed_client(api_key)
    assert [client.get(CANDLES).status_code for _ in range(3)] == [200, 200, 200]
    assert anonymous.get(CANDLES).status_code == 401


def test_the_django_admin_login_is_limited_per_ip_but_its_pages_are_not(world, settings):
    settings.KIRBY_RATE_LIMIT_ANON_PER_MINUTE = 2
    guesser = Client(REMOTE_ADDR="10.1.2.5")
    in_a_fresh_window("ip:10.1.2.5")
    answers = [
        guesser.post("/admin/login/", {"username": "ops", "password": f"guess{n}"}).status_code for n in range(3)
    ]
    assert answers == [200, 200, 429]
    assert guesser.get("/admin/").status_code == 302  # to the login page, not limited
