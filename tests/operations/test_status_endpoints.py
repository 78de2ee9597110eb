"""Who reaches /api/status, /dashboard and /metrics, and what they get."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from apps.access.models import ADMIN, READ
from apps.collectors.stream_documents import report_stream
from tests.conftest import keyed_client, make_key

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff():
    user = get_user_model().objects.create_user("operator", password="x", is_staff=True)
    browser = Client()
    browser.force_login(user)
    return browser


def test_the_status_api_needs_a_key_with_the_admin_scope(client, anonymous):
    admin = keyed_client(make_key("root", scopes=[READ, ADMIN]))

    assert anonymous.get("/api/status").status_code == 401
    assert client.get("/api/status").json() == {"detail": "Admin privileges required"}
    response = admin.get("/api/status")

    assert response.status_code == 200
    document = response.json()
    assert {"state", "reasons", "generated_at", "streams", "starlistings", "websocket", "celery", "beat",
            "backfill", "database", "errors", "history"} <= set(document)  # fmt: skip


def test_the_dashboard_sends_anonymous_and_non_staff_users_to_the_admin_login(anonymous):
    get_user_model().objects.create_user("plain", password="x")
    browser = Client()
    browser.login(username="plain", password="x")

    for visitor in (anonymous, browser):
        response = visitor.get("/dashboard")
        assert response.status_code == 302
        assert response["Location"].startswith("/admin/login/?next=/dashboard")
        assert visitor.get("/dashboard/status.json").json() == {"detail": "Staff login required"}


def test_staff_see_a_stale_stream_in_red_with_its_reason_without_any_api_key(staff, world):
    report_stream("hyperliquid/0", {"running": True, "connected": False, "last_error": "quiet for 61.0 s"})

    page = staff.get("/dashboard").content.decode()
    data = staff.get("/dashboard/status.json").json()

    assert '<tr data-name="hyperliquid/0" class="state-red">' in page
    assert "disconnected: quiet for 61.0 s" in page
    assert 'href="/admin/"' in page and 'href="/docs"' in page and 'href="/metrics"' in page
    assert "<noscript>" in page and 'id="refresh-link"' in page
    assert data["streams"]["items"][0]["reason"] == "disconnected: quiet for 61.0 s"
    # Per-starlisting freshness drawn on the server too (the world's starlistings have no candles: red).
    assert page.count('<rect class="bar state-red"') == 3
    assert '<text x="0" y="9">hyperliquid/BTC/USD/perps/1m</text>' in page  # each bar is labelled


def test_metrics_are_public_without_a_token_and_need_it_once_one_is_set(anonymous, settings):
    response = anonymous.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    assert b"kirby_records_written_total" in response.content
    assert b"django_http_requests_total_by_method_total" in response.content
    assert "X-RateLimit-Limit" not in response

    settings.KIRBY_METRICS_TOKEN = "s3cret"
    assert anonymous.get("/metrics").status_code == 401
    assert anonymous.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert anonymous.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret").status_code == 200
