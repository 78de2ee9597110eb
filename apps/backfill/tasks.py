"""Celery tasks: run backfill jobs (queue ``backfill``), resume lost ones, find and repair gaps.

``run_backfill`` retries a failed run with exponential backoff
(KIRBY_BACKFILL_RETRY_SECONDS x 2^(attempt-1)) until KIRBY_BACKFILL_MAX_ATTEMPTS
runs have failed. ``supervise_backfills`` (beat) re-queues running jobs
whose lease lapsed (their worker died) and queued jobs whose message was
lost, so an interrupted job resumes from its checkpoint. ``find_gaps``
(beat) scans for holes and queues their repair.
"""

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

from apps.backfill import jobs, ledger
from apps.backfill.detect import find_holes
from apps.backfill.models import BackfillJob
from apps.backfill.runner import lease_name, run_job
from apps.collectors.lease import is_held
from lib.tasks import dispatch_once

log = logging.getLogger(__name__)


# A run past its soft limit fails like any other and is retried from its checkpoint.
@shared_task(ignore_result=True, acks_late=True, soft_time_limit=6 * 3600, time_limit=6 * 3600 + 120)
def run_backfill(job_id):
    try:
        job = run_job(job_id)
    except Exception as error:
        job = BackfillJob.objects.get(id=job_id)
        if job.status != BackfillJob.Status.RUNNING:
            return f"backfill #{job_id} {job.status}"
        if job.attempts >= settings.KIRBY_BACKFILL_MAX_ATTEMPTS:
            BackfillJob.objects.filter(id=job_id, status=BackfillJob.Status.RUNNING).update(
                status=BackfillJob.Status.FAILED, finished_at=timezone.now(), updated_at=timezone.now()
            )
            job.refresh_from_db()
            ledger.settle_repair(job)
            log.error("backfill #%s failed after %s attempts: %s", job_id, job.attempts, error)
            return f"backfill #{job_id} failed"
        countdown = settings.KIRBY_BACKFILL_RETRY_SECONDS * 2 ** (job.attempts - 1)
        BackfillJob.objects.filter(id=job_id, status=BackfillJob.Status.RUNNING).update(
            status=BackfillJob.Status.QUEUED, updated_at=timezone.now()
        )
        log.warning("backfill #%s attempt %s failed (%s); retrying in %s s", job_id, job.attempts, error, countdown)
        jobs.dispatch(job_id, countdown=countdown)
        return f"backfill #{job_id} retrying"
    finally:
        close_old_connections()
    return f"backfill #{job_id} {job.status if job else 'not run here'}"


@shared_task(ignore_result=True, time_limit=60)
def supervise_backfills():
    """Re-queue jobs that should be running and are not: a dead worker's, or a lost message's."""
    lease_seconds = settings.KIRBY_BACKFILL_LEASE_SECONDS
    stale_queued = timezone.now() - timedelta(seconds=settings.KIRBY_BACKFILL_REQUEUE_SECONDS)
    candidates = BackfillJob.objects.filter(status=BackfillJob.Status.RUNNING) | BackfillJob.objects.filter(
        status=BackfillJob.Status.QUEUED, updated_at__lt=stale_queued
    )
    resumed = []
    for job_id in candidates.values_list("id", flat=True):
        if is_held(lease_name(job_id)):
            continue
        if dispatch_once(f"backfill/{job_id}", lease_seconds):
            jobs.dispatch(job_id)
            resumed.append(job_id)
    if resumed:
        log.info("re-queued backfill jobs %s", resumed)
    return resumed


@shared_task(ignore_result=True, time_limit=600)
def find_gaps():
    """Record the holes of every active series in the ledger and queue their repair."""
    found = find_holes()
    queued = ledger.queue_repairs(found) + ledger.repair_open_gaps()
    return {"found": len(found), "repairs_queued": len(queued)}
