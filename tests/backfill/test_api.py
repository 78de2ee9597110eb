"""POST/GET/DELETE /backfills and GET /gaps: shapes, filters, and 400s that name the parameter."""

import pytest

from apps.backfill.api.views import BackfillDetailView, BackfillListView, GapListView
from apps.backfill.models import BackfillJob, Gap
from tests.conftest import utc

pytestmark = pytest.mark.django_db


def post(client, body):
    return client.post("/backfills", body, content_type="application/json")


def test_a_backfill_is_started_over_rest_and_shows_in_the_list(admin_api, world):
    client = admin_api
    body = {"exchange": "Hyperliquid", "coin": "btc", "quote": "USD", "market_type": "perps", "interval": "1m"}
    response = post(client, {**body, "start_time": "2025-03-01", "end_time": "2025-03-02T00:00:00Z"})

    assert response.status_code == 201
    job = response.json()
    assert job["status"] == "queued" and job["progress"] == 0.0 and job["source"] == "api"
    assert (job["coin"], job["interval"], job["starlisting_id"]) == ("BTC", "1m", world.btc_1m.id)
    assert (job["start_time"], job["end_time"]) == ("2025-03-01T00:00:00Z", "2025-03-02T00:00:00Z")
    listed = client.get("/backfills", {"status": "queued", "coin": "BTC"}).json()
    assert listed["count"] == 1 and listed["jobs"][0]["id"] == job["id"]
    assert client.get(f"/backfills/{job['id']}").json() == job
    assert client.get("/backfills", {"data_type": "funding"}).json()["count"] == 0


def test_a_funding_backfill_takes_days(admin_api, world):
    client = admin_api
    response = post(client, {"data_type": "funding", "exchange": "hyperliquid", "coin": "SOL", "quote": "USD",
                             "market_type": "perps", "days": 3})  # fmt: skip

    job = BackfillJob.objects.get(id=response.json()["id"])
    assert response.status_code == 201 and job.trading_pair == world.sol_pair and job.starlisting is None
    assert (job.end_time - job.start_time).days == 3


@pytest.mark.parametrize(
    "body, name",
    [
        ({"coin": "BTC", "quote": "USD", "market_type": "perps", "interval": "1m"}, "exchange"),
        ({"exchange": "hyperliquid", "coin": "DOGE", "quote": "USD", "market_type": "perps"}, "coin"),
        ({"exchange": "hyperliquid", "coin": "BTC", "quote": "USD", "market_type": "perps", "interval": "4h"},
         "interval"),
        ({"exchange": "hyperliquid", "coin": "BTC", "quote": "USD", "market_type": "perps", "interval": "1m",
          "start_time": "yesterday"}, "start_time"),
        ({"exchange": "hyperliquid", "coin": "BTC", "quote": "USD", "market_type": "perps", "interval": "1m",
          "start_time": "2025-03-02", "end_time": "2025-03-01"}, "end_time"),
        ({"exchange": "hyperliquid", "coin": "BTC", "quote": "USD", "market_type": "perps", "days": 0}, "days"),
        ({"exchange": "hyperliquid", "coin": "BTC", "data_type": "trades"}, "data_type"),
    ],
)  # fmt: skip
def test_a_bad_backfill_request_is_a_400_naming_the_parameter(admin_api, world, body, name):
    client = admin_api
    response = post(client, body)

    assert response.status_code == 400
    assert name in [error["loc"][1] for error in response.json()["errors"]]
    assert not BackfillJob.objects.exists()


def test_malformed_json_and_unknown_ids_are_clear_errors(admin_api, world):
    client = admin_api
    assert client.post("/backfills", "{", content_type="application/json").status_code == 400
    assert client.get("/backfills/99999").status_code == 404
    assert client.get("/backfills/abc").json()["errors"][0]["loc"] == ["path", "job_id"]
    assert client.get("/backfills", {"status": "done"}).status_code == 400


def test_deleting_a_queued_job_cancels_it_and_an_ended_one_is_a_conflict(admin_api, world):
    client = admin_api
    job_id = post(client, {"exchange": "hyperliquid", "coin": "BTC", "quote": "USD", "market_type": "perps",
                           "interval": "1h", "days": 1}).json()["id"]  # fmt: skip

    cancelled = client.delete(f"/backfills/{job_id}")
    again = client.delete(f"/backfills/{job_id}")

    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["finished_at"] is not None
    assert again.status_code == 409 and "cancelled" in again.json()["detail"]


def test_the_gap_ledger_is_listed_with_filters(client, world):
    Gap.objects.create(data_type="candles", starlisting=world.btc_1m, trading_pair=world.btc_pair, missing=3,
                       start_time=utc(2025, 3, 1, 10), end_time=utc(2025, 3, 1, 10, 3), reason="downtime",
                       status="repaired", repaired_at=utc(2025, 3, 1, 10, 5))  # fmt: skip
    Gap.objects.create(data_type="open_interest", trading_pair=world.sol_pair, missing=5, reason="downtime",
                       start_time=utc(2025, 3, 1, 11), end_time=utc(2025, 3, 1, 11, 5),
                       status="unrecoverable")  # fmt: skip

    everything = client.get("/gaps").json()
    repaired = client.get("/gaps", {"status": "repaired", "coin": "btc", "exchange": "hyperliquid"}).json()

    assert everything["count"] == 2 and everything["gaps"][0]["data_type"] == "open_interest"
    assert repaired["count"] == 1
    gap = repaired["gaps"][0]
    assert (gap["interval"], gap["missing"], gap["reason"]) == ("1m", 3, "downtime")
    assert (gap["start_time"], gap["end_time"], gap["repaired_at"]) == (
        "2025-03-01T10:00:00Z", "2025-03-01T10:03:00Z", "2025-03-01T10:05:00Z")  # fmt: skip
    assert client.get("/gaps", {"data_type": "funding"}).json()["count"] == 0
    assert client.get("/gaps", {"start_time": "2025-03-01T10:30:00Z"}).json()["count"] == 1
    assert client.get("/gaps", {"status": "closed"}).json()["errors"][0]["loc"] == ["query", "status"]


def test_management_views_are_marked_admin_and_the_ledger_read():
    assert BackfillListView.access == BackfillDetailView.access == "admin"
    assert GapListView.access == "read"


def test_backfills_need_the_admin_scope_and_gaps_the_read_scope(client, world):
    assert client.get("/backfills").json() == {"detail": "Admin privileges required"}
    assert client.get("/gaps").status_code == 200
