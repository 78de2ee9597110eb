"""Public service endpoints, errors for unknown paths, and the OpenAPI docs."""

import json

import pytest
from django.core.management import call_command
from django.test import override_settings

from apps.collectors.stream_documents import STREAMS_KEY, report_stream
from lib.redis import client as redis_client


def test_root_describes_the_service(client, db):
    body = client.get("/").json()

    assert body["name"] == "Kirby"
    assert {"docs", "websocket", "health"} <= set(body["endpoints"])
    assert "candles" in body["features"]


def test_health_reports_the_database_and_collector_streams(client, db):
    redis_client().delete(STREAMS_KEY)
    report_stream("hyperliquid/candles", {"running": True, "reconnects": 2})
    try:
        response = client.get("/health")
    finally:
        redis_client().delete(STREAMS_KEY)

    body = response.json()
    assert response.status_code == 200
    assert (body["status"], body["database"]) == ("healthy", "connected")
    assert body["timestamp"].endswith("Z")
    # The stream's own document, judged by the same code as /api/status and the dashboard.
    assert body["collectors"] == {
        "hyperliquid/candles": {"running": True, "reconnects": 2, "state": "red", "reason": "not connected yet"}
    }


def test_livez_answers_without_touching_anything(client, db, django_assert_num_queries):
    with django_assert_num_queries(0):
        assert client.get("/livez").json() == {"status": "ok"}


def test_readyz_checks_database_redis_and_channel_layer(client, db):
    response = client.get("/readyz/")

    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "redis": "ok", "channel_layer": "ok"}


def test_readyz_is_503_naming_what_is_down(client, db):
    unreachable = "redis://127.0.0.1:1/0"
    caches = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": unreachable}}
    layers = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [unreachable]}}}
    with override_settings(CACHES=caches, CHANNEL_LAYERS=layers):
        response = client.get("/readyz")

    checks = response.json()["checks"]
    assert response.status_code == 503
    assert checks["database"] == "ok"
    assert checks["redis"].startswith("error") and checks["channel_layer"].startswith("error")


@pytest.mark.parametrize("path", ["/nope", "/candles", "/candles/a/b", "/starlistings/1/extra", "/funding/x"])
def test_unknown_paths_are_json_404s(client, db, path):
    response = client.get(path)

    assert response.status_code == 404
    assert response.json() == {"detail": "Not Found"}


def test_a_wrong_method_is_a_json_405(client, world):
    response = client.post("/candles/hyperliquid/BTC/USD/perps/1m", data="{}", content_type="application/json")

    assert response.status_code == 405
    assert set(response.json()) == {"detail"}


def test_the_openapi_schema_is_valid_and_warning_free(tmp_path, db):
    target = tmp_path / "schema.json"

    call_command("spectacular", "--validate", "--fail-on-warn", "--format", "openapi-json", "--file", str(target))

    schema = json.loads(target.read_text())
    paths = set(schema["paths"])
    assert {"/candles/{exchange}/{coin}/{quote}/{market_type}/{interval}", "/starlistings"} <= paths
    assert "/funding/{exchange}/{coin}/{quote}/{market_type}" in paths


def test_the_schema_endpoint_serves_the_same_document(client, db, tmp_path):
    target = tmp_path / "schema.json"
    call_command("spectacular", "--format", "openapi-json", "--file", str(target))

    response = client.get("/api/schema/", {"format": "json"})

    assert response.status_code == 200
    assert response.json()["info"]["title"] == "Kirby API"
    assert response.json() == json.loads(target.read_text())


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_docs_pages_use_self_hosted_assets(client, db, path):
    page = client.get(path).content.decode()

    assert "/static/drf_spectacular_sidecar/" in page
    assert "cdn.jsdelivr.net" not in page and "unpkg.com" not in page


@pytest.mark.parametrize("accept", ["text/html", "application/xml", "*/*"])
def test_data_endpoints_answer_json_whatever_the_client_accepts(client, world, accept):
    response = client.get("/candles/hyperliquid/BTC/USD/perps/1m", {"limit": "0"}, HTTP_ACCEPT=accept)

    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json()["errors"][0]["loc"] == ["query", "limit"]
