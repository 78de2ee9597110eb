"""Export jobs: queued over HTTP, run by the worker task, downloaded through links that expire."""

import csv
import io
import json
import time

import pytest

from apps.marketdata.models import ExportJob
from apps.marketdata.tasks import run_export_job
from tests.marketdata.export_data import END, START, write_rows

REQUEST = {
    "type": "candles",
    "exchange": "hyperliquid",
    "coin": "BTC",
    "quote": "USD",
    "market_type": "perps",
    "interval": "1m",
    "format": "both",
    "start_time": START.isoformat(),
    "end_time": END.isoformat(),
}


@pytest.fixture
def rows(world, settings, tmp_path):
    settings.KIRBY_EXPORT_DIR = tmp_path
    write_rows(world.btc_1m.id, world.btc_pair.id, "default")
    return world


def post(client, body):
    return client.post("/exports", data=json.dumps(body), content_type="application/json")


def finished_job(client, body=REQUEST):
    created = post(client, body)
    assert created.status_code == 202 and created.json()["status"] == "queued"
    run_export_job(created.json()["id"])  # what the worker runs
    return client.get(created.json()["status_url"]).json()


def content(response):
    return b"".join(response.streaming_content)


def test_a_finished_job_links_to_its_files_and_sidecars(client, rows):
    job = finished_job(client)

    assert job["status"] == "done" and job["rows"] == 8 and job["error"] is None
    assert [f["format"] for f in job["files"]] == ["csv", "parquet"]
    csv_file = job["files"][0]
    response = client.get(csv_file["download_url"])
    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="{csv_file["name"]}"'
    lines = list(csv.DictReader(io.StringIO(content(response).decode())))
    assert [line["time"] for line in lines][0] == "2024-05-31T23:58:00Z" and len(lines) == 4
    sidecar = json.loads(content(client.get(csv_file["sidecar_url"])))
    assert sidecar["row_count"] == 4 and sidecar["file"] == csv_file["name"]
    assert csv_file["expires_at"].endswith("Z")


def test_an_expired_or_forged_link_is_refused(client, rows, settings):
    settings.KIRBY_EXPORT_LINK_SECONDS = 1
    job = finished_job(client)
    url = job["files"][0]["download_url"]

    forged = client.get(url[:-3] + "abc")
    other = client.get(url.replace(job["files"][0]["name"], job["files"][1]["name"]))
    time.sleep(2.1)
    expired = client.get(url)

    assert forged.status_code == 403 and forged.json()["detail"] == "the download link is not valid"
    assert other.status_code == 403
    assert expired.status_code == 403 and "expired" in expired.json()["detail"]


def test_a_job_that_cannot_be_written_fails_with_its_reason(client, rows):
    job = finished_job(client, {**REQUEST, "format": "parquet"})
    assert job["status"] == "done"
    ExportJob.objects.update(status=ExportJob.QUEUED, interval="4h")

    run_export_job(job["id"])

    failed = client.get(job["status_url"]).json()
    assert failed["status"] == "failed"
    assert failed["error"] == "hyperliquid/BTC/USD/perps has no 4h starlisting; it has: 1m, 1h"
    assert failed["files"] == []


@pytest.mark.parametrize(
    "change, location",
    [
        ({"type": "ticks"}, "type"),
        ({"format": "xlsx"}, "format"),
        ({"interval": None}, "interval"),
        ({"start_time": "later"}, "start_time"),
        ({"coin": ""}, "coin"),
        ({"type": "trades", "coin": "BT\x00C"}, "coin"),  # PostgreSQL refuses NUL: it must never reach it
        ({"quote": "\ud800"}, "quote"),
    ],
)
def test_a_bad_job_request_is_a_400_naming_the_field(client, rows, change, location):
    response = post(client, {**REQUEST, **change})

    assert response.status_code == 400
    assert ["body", location] in [error["loc"] for error in response.json()["errors"]]
    assert not ExportJob.objects.exists()


def test_a_job_for_an_unknown_series_is_a_404(client, rows):
    response = post(client, {**REQUEST, "coin": "DOGE"})

    assert response.status_code == 404


def test_an_unknown_job_is_a_404(client, db):
    response = client.get("/exports/00000000-0000-0000-0000-000000000000")

    assert response.status_code == 404


def test_finished_jobs_and_their_files_are_purged_after_the_retention(client, rows, settings, tmp_path):
    from datetime import timedelta

    from django.utils import timezone

    from apps.marketdata.tasks import purge_export_jobs

    settings.KIRBY_EXPORT_RETENTION_HOURS = 24
    old, recent = finished_job(client), finished_job(client)
    ExportJob.objects.filter(id=old["id"]).update(finished_at=timezone.now() - timedelta(hours=25))

    assert purge_export_jobs() == 1
    assert not (tmp_path / old["id"]).exists() and (tmp_path / recent["id"]).is_dir()
    assert client.get(old["files"][0]["download_url"]).status_code == 404
    assert client.get(recent["files"][0]["download_url"]).status_code == 200
