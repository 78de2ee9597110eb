"""Sending a job to the ``backfill`` queue, and the task that runs it there.

``run_backfill(job_id, database)`` retries a failed run with exponential
backoff (KIRBY_BACKFILL_RETRY_SECONDS x 2^(attempt-1)) until
KIRBY_BACKFILL_MAX_ATTEMPTS runs have failed. The task carries the alias of
the database the job lives in. It is declared here, below the modules that
create jobs, so that creating a job and running one import one way; its
name stays ``apps.backfill.tasks.run_backfill`` (tasks re-exports it).
"""

import logging

from celery import shared_task
from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

from apps.backfill import ledger
from apps.backfill.models import BackfillJob
from apps.backfill.runner import run_job

log = logging.getLogger(__name__)


def dispatch(job_id, database="default", countdown=None):
    run_backfill.apply_async((job_id, database), queue="backfill", countdown=countdown)


# A run past its soft limit fails like any other and is retried from its checkpoint.
@shared_task(
    name="apps.backfill.tasks.run_backfill",
    ignore_result=True,
    acks_late=True,
    soft_time_limit=6 * 3600,
    time_limit=6 * 3600 + 120,
)
def run_backfill(job_id, database="default"):
    jobs = BackfillJob.objects.using(database)
    try:
        job = run_job(job_id, database)
    except Exception as error:
        job = jobs.get(id=job_id)
        if job.status != BackfillJob.Status.RUNNING:
            return f"backfill #{job_id} {job.status}"
        if job.attempts >= settings.KIRBY_BACKFILL_MAX_ATTEMPTS:
            jobs.filter(id=job_id, status=BackfillJob.Status.RUNNING).update(
                status=BackfillJob.Status.FAILED, finished_at=timezone.now(), updated_at=timezone.now()
            )
            job.refresh_from_db()
            ledger.settle_repair(job)
            log.error("backfill #%s failed after %s attempts: %s", job_id, job.attempts, error)
            return f"backfill #{job_id} failed"
        countdown = settings.KIRBY_BACKFILL_RETRY_SECONDS * 2 ** (job.attempts - 1)
        jobs.filter(id=job_id, status=BackfillJob.Status.RUNNING).update(
            status=BackfillJob.Status.QUEUED, updated_at=timezone.now()
        )
        log.warning("backfill #%s attempt %s failed (%s); retrying in %s s", job_id, job.attempts, error, countdown)
        dispatch(job_id, database, countdown=countdown)
        return f"backfill #{job_id} retrying"
    finally:
        close_old_connections()
    return f"backfill #{job_id} {job.status if job else 'not run here'}"
