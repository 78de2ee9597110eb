"""One key cannot pile up export or backfill jobs, and an export job stops at its row and byte limits."""

import json

import pytest

from apps.backfill.models import BackfillJob
from apps.marketdata.export.jobs import directory_of
from apps.marketdata.models import ExportJob
from apps.marketdata.tasks import run_export_job
from tests.conftest import keyed_client, make_key
from tests.marketdata.export_data import END, START, write_rows

pytestmark = pytest.mark.django_db

EXPORT = {"type": "candles", "exchange": "hyperliquid", "coin": "BTC", "quote": "USD", "market_type": "perps",
          "interval": "1m", "format": "both", "start_time": START.isoformat(), "end_time": END.isoformat()}  # fmt: skip
BACKFILL = {"exchange": "hyperliquid", "coin": "BTC", "quote": "USD", "market_type": "perps", "interval": "1m",
            "start_time": "2025-03-01", "end_time": "2025-03-02"}  # fmt: skip


@pytest.fixture
def rows(world, settings, tmp_path):
    settings.KIRBY_EXPORT_DIR = tmp_path
    write_rows(world.btc_1m.id, world.btc_pair.id, "default")
    return world


def post(client, path, body):
    return client.post(path, data=json.dumps(body), content_type="application/json")


def test_a_key_gets_a_429_naming_the_limit_once_it_has_that_many_export_jobs_waiting(client, rows, settings):
    settings.KIRBY_EXPORT_MAX_ACTIVE_JOBS_PER_KEY = 2
    first, second = post(client, "/exports", EXPORT), post(client, "/exports", EXPORT)
    assert (first.status_code, second.status_code) == (202, 202)

    refused = post(client, "/exports", EXPORT)
    assert refused.status_code == 429
    assert "at most 2" in refused.json()["detail"]
    assert "KIRBY_EXPORT_MAX_ACTIVE_JOBS_PER_KEY" in refused.json()["detail"]
    assert ExportJob.objects.count() == 2

    other = keyed_client(make_key("someone-else"))
    assert post(other, "/exports", EXPORT).status_code == 202

    run_export_job(first.json()["id"])  # one finishes: a place is free again
    assert post(client, "/exports", EXPORT).status_code == 202
    assert post(client, "/exports", EXPORT).status_code == 429


def test_an_admin_key_gets_a_429_once_it_has_that_many_backfills_waiting(admin_api, world, settings):
    settings.KIRBY_BACKFILL_MAX_ACTIVE_JOBS_PER_KEY = 1
    created = post(admin_api, "/backfills", BACKFILL)
    assert created.status_code == 201

    refused = post(admin_api, "/backfills", BACKFILL)
    assert refused.status_code == 429
    assert "KIRBY_BACKFILL_MAX_ACTIVE_JOBS_PER_KEY" in refused.json()["detail"]
    assert BackfillJob.objects.count() == 1

    BackfillJob.objects.filter(id=created.json()["id"]).update(status=BackfillJob.Status.SUCCEEDED)
    assert post(admin_api, "/backfills", BACKFILL).status_code == 201


def test_an_export_job_over_its_row_limit_fails_saying_so_and_leaves_no_files(client, rows, settings):
    settings.KIRBY_EXPORT_JOB_MAX_ROWS = 5  # the window holds 4 rows; "both" reads them twice
    job_id = post(client, "/exports", EXPORT).json()["id"]
    run_export_job(job_id)

    job = client.get(f"/exports/{job_id}").json()
    assert job["status"] == "failed"
    assert "more than 5 rows (KIRBY_EXPORT_JOB_MAX_ROWS)" in job["error"]
    assert not directory_of(job_id).exists()


def test_an_export_job_over_its_byte_limit_fails_saying_so(client, rows, settings):
    settings.KIRBY_EXPORT_JOB_MAX_BYTES = 200
    job_id = post(client, "/exports", {**EXPORT, "format": "csv"}).json()["id"]
    run_export_job(job_id)

    job = client.get(f"/exports/{job_id}").json()
    assert job["status"] == "failed" and "larger than 200 bytes (KIRBY_EXPORT_JOB_MAX_BYTES)" in job["error"]


def test_an_export_job_within_its_limits_is_done(client, rows, settings):
    settings.KIRBY_EXPORT_JOB_MAX_ROWS = 8
    job_id = post(client, "/exports", EXPORT).json()["id"]
    run_export_job(job_id)
    assert client.get(f"/exports/{job_id}").json()["status"] == "done"
