"""Real responses hold to what /api/schema/ documents for them: every documented key sent, nothing else."""

import json
import re

import pytest

from apps.marketdata.tasks import run_export_job
from tests.api.openapi import assert_documented, component_schema, operation, published, response_schema
from tests.marketdata.export_data import END, START, write_rows


@pytest.fixture
def document(anonymous, db):
    return published(anonymous)


@pytest.fixture
def rows(world, settings, tmp_path):
    settings.KIRBY_EXPORT_DIR = tmp_path
    write_rows(world.btc_1m.id, world.btc_pair.id, "default")
    return world


def test_every_documented_path_parameter_is_a_segment_of_its_path(document):
    for path, methods in document["paths"].items():
        segments = set(re.findall(r"{(\w+)}", path))
        for method, op in methods.items():
            documented = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert documented == segments, f"{method.upper()} {path}"


@pytest.mark.parametrize(
    "documented, path, query",
    [
        ("/candles/{exchange}/{coin}/{quote}/{market_type}/{interval}", "/candles/hyperliquid/BTC/USD/perps/1m", {}),
        ("/funding/{exchange}/{coin}/{quote}/{market_type}", "/funding/hyperliquid/BTC/USD/perps", {}),
        ("/open-interest/{exchange}/{coin}/{quote}/{market_type}", "/open-interest/hyperliquid/btc/usd/perps", {}),
        ("/funding/{exchange}/{coin}/{quote}/{market_type}", "/funding/hyperliquid/SOL/USD/perps", {"limit": 5}),
    ],
)
def test_data_responses_without_a_window_are_as_documented(client, document, rows, documented, path, query):
    response = client.get(path, query)

    assert response.status_code == 200
    assert response.json()["metadata"]["start_time"] is None
    assert_documented(response.json(), response_schema(document, documented))


@pytest.mark.parametrize(
    "documented, path, status",
    [
        ("/candles/{exchange}/{coin}/{quote}/{market_type}/{interval}", "/candles/hyperliquid/BTC/USD/perps/1m?limit=0",
         "400"),
        ("/funding/{exchange}/{coin}/{quote}/{market_type}", "/funding/hyperliquid/DOGE/USD/perps", "404"),
        ("/starlistings/{starlisting_id}", "/starlistings/999999", "404"),
    ],
)  # fmt: skip
def test_error_responses_are_as_documented(client, document, rows, documented, path, status):
    response = client.get(path)

    assert str(response.status_code) == status
    assert_documented(response.json(), response_schema(document, documented, status))


def test_starlisting_responses_are_as_documented(client, document, rows):
    listing = client.get("/starlistings", {"active_only": "false"})
    one = client.get(f"/starlistings/{rows.btc_1h.id}")

    assert listing.status_code == 200 and listing.json()["total_count"] == 3
    assert_documented(listing.json(), response_schema(document, "/starlistings"))
    assert one.status_code == 200 and one.json()["interval"] == "1h"
    assert_documented(one.json(), response_schema(document, "/starlistings/{starlisting_id}"))
    # Every item has every key: the schema must not call any of them optional.
    assert set(component_schema(document, "Starlisting")["required"]) == set(one.json())


def test_export_job_responses_are_as_documented(client, document, rows):
    body = {"type": "funding", "exchange": "hyperliquid", "coin": "BTC", "quote": "USD", "market_type": "perps",
            "format": "both", "start_time": START.isoformat(), "end_time": END.isoformat()}  # fmt: skip
    request_schema = operation(document, "/exports", "post")["requestBody"]["content"]["application/json"]["schema"]
    created = client.post("/exports", data=json.dumps(body), content_type="application/json")
    run_export_job(created.json()["id"])
    done = client.get(created.json()["status_url"])

    assert request_schema == {"$ref": "#/components/schemas/ExportJobRequest"}
    assert_documented(body, component_schema(document, "ExportJobRequest"))
    assert created.status_code == 202 and created.json()["files"] == []
    assert_documented(created.json(), response_schema(document, "/exports", "202", method="post"))
    assert done.status_code == 200 and done.json()["status"] == "done" and len(done.json()["files"]) == 2
    assert_documented(done.json(), response_schema(document, "/exports/{job_id}"))


@pytest.mark.parametrize(
    "documented, export_types",
    [
        (
            "/export/{export_type}/{exchange}/{coin}/{quote}/{market_type}",
            ["funding", "open_interest", "orderbook", "trades"],
        ),
        ("/export/{export_type}/{exchange}/{coin}/{quote}/{market_type}/{interval}", ["candles", "merged"]),
    ],
)
def test_each_export_path_documents_the_types_it_serves(client, document, rows, documented, export_types):
    parameter = next(p for p in operation(document, documented)["parameters"] if p["name"] == "export_type")
    segments = "hyperliquid/BTC/USD/perps" + ("/1m" if documented.endswith("{interval}") else "")

    assert parameter["schema"]["enum"] == export_types
    for export_type in export_types:
        response = client.get(f"/export/{export_type}/{segments}", {"start_time": START.isoformat()})
        assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
