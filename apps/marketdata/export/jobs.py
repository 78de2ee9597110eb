"""Export jobs: a worker writes the files under ``KIRBY_EXPORT_DIR/<job id>/``; links to them expire.

A download link carries a token signed with Django's SECRET_KEY
(``TimestampSigner``) over the job id and file name; it is refused once
``KIRBY_EXPORT_LINK_SECONDS`` have passed since it was issued. A job whose
worker died is run again from scratch (``acks_late``): its directory is
emptied first, so a retry never mixes files of two runs.
"""

import shutil
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, urlencode

from django.conf import settings
from django.core import signing

from apps.marketdata.export import spec
from apps.marketdata.export.formats import CSV, PARQUET, ExportFailed
from apps.marketdata.export.resolve import SelectionError, find_intervals, find_pair
from apps.marketdata.export.run import ExportRequest, export_files
from apps.marketdata.export.stream import Budget
from apps.marketdata.models import ExportJob

_SALT = "kirby.export-download"
FORMATS = {"csv": (CSV,), "parquet": (PARQUET,), "both": (CSV, PARQUET)}


class LinkRefused(Exception):
    pass


def directory_of(job_id):
    return settings.KIRBY_EXPORT_DIR / str(job_id)


def run_job(job):
    """Run ``job`` to completion in this process; it ends done or failed (with the reason)."""
    job.status, job.error = ExportJob.RUNNING, ""
    job.save(update_fields=["status", "error"])
    directory = directory_of(job.id)
    shutil.rmtree(directory, ignore_errors=True)
    try:
        pair = find_pair("default", job.coin, job.exchange, job.quote, job.market_type)
        intervals = find_intervals("default", pair, [job.interval]) if job.export_type in spec.WITH_INTERVAL else []
        budget = Budget(settings.KIRBY_EXPORT_JOB_MAX_ROWS, settings.KIRBY_EXPORT_JOB_MAX_BYTES)
        request = ExportRequest(
            job.export_type, "default", pair, intervals, job.start_time, job.end_time, FORMATS[job.format], job.numbers,
            budget,
        )  # fmt: skip
        written = export_files(request, directory)
    except (SelectionError, ExportFailed) as error:
        shutil.rmtree(directory, ignore_errors=True)  # the files written before the failure are not the export
        _finish(job, ExportJob.FAILED, error=str(error))
        return job
    except BaseException as error:
        _finish(job, ExportJob.FAILED, error=f"unexpected error: {error}")
        raise
    job.files = [
        {
            "name": f.path.name,
            "format": f.format,
            "rows": f.rows,
            "size": f.path.stat().st_size,
            "sidecar": f.sidecar.name,
        }
        for f in written
    ]
    job.rows = sum(f.rows for f in written)
    _finish(job, ExportJob.DONE)
    return job


def _finish(job, status, error=""):
    job.status, job.error, job.finished_at = status, error, datetime.now(UTC)
    job.save(update_fields=["status", "error", "finished_at", "files", "rows"])


def download_link(job, name, now=None):
    """(URL path with a signed token, expiry time) for one file of a finished job."""
    token = signing.TimestampSigner(salt=_SALT).sign(f"{job.id}/{name}")
    expires = (now or datetime.now(UTC)) + timedelta(seconds=settings.KIRBY_EXPORT_LINK_SECONDS)
    return f"/exports/{job.id}/files/{quote(name)}?{urlencode({'token': token})}", expires


def check_link(job_id, name, token):
    """Raise LinkRefused unless ``token`` was issued for this file and has not expired."""
    if not token:
        raise LinkRefused("the link has no token")
    try:
        value = signing.TimestampSigner(salt=_SALT).unsign(token, max_age=settings.KIRBY_EXPORT_LINK_SECONDS)
    except signing.SignatureExpired:
        raise LinkRefused("the download link has expired; ask the job's status for a new one") from None
    except signing.BadSignature:
        raise LinkRefused("the download link is not valid") from None
    if value != f"{job_id}/{name}":
        raise LinkRefused("the download link is for another file")
