"""Celery tasks: run backfill jobs (queue ``backfill``), resume lost ones, find and repair gaps.

``run_backfill`` (apps.backfill.dispatch) runs one job of one database.
``supervise_backfills`` (beat) re-queues, in every configured database,
running jobs whose lease lapsed (their worker died) and queued jobs whose
message was lost, so an interrupted job resumes from its checkpoint.
``find_gaps`` (beat) scans the live database for holes and queues their
repair.
"""

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db import DatabaseError
from django.utils import timezone

from apps.backfill.detect import find_holes
from apps.backfill.dispatch import dispatch, run_backfill
from apps.backfill.gap_repairs import queue_repairs, repair_open_gaps
from apps.backfill.models import BackfillJob
from apps.backfill.runner import lease_name
from apps.collectors.lease import is_held
from lib.tasks import dispatch_once

log = logging.getLogger(__name__)

__all__ = ["find_gaps", "run_backfill", "supervise_backfills"]


@shared_task(ignore_result=True, time_limit=60)
def supervise_backfills():
    """Re-queue jobs that should be running and are not: a dead worker's, or a lost message's."""
    resumed = []
    for database in settings.DATABASES:
        try:
            resumed += [f"{database}/{job_id}" for job_id in _resume(database)]
        except DatabaseError as error:  # a configured database that is away (or not migrated) has no job to run
            if database not in _unreachable:
                log.warning("supervising backfills in database %r: %s", database, error)
            _unreachable.add(database)
        else:
            _unreachable.discard(database)
    if resumed:
        log.info("re-queued backfill jobs %s", resumed)
    return resumed


_unreachable = set()  # databases already reported away, so that beat does not repeat it every period


def _resume(database):
    lease_seconds = settings.KIRBY_BACKFILL_LEASE_SECONDS
    stale_queued = timezone.now() - timedelta(seconds=settings.KIRBY_BACKFILL_REQUEUE_SECONDS)
    jobs = BackfillJob.objects.using(database)
    candidates = jobs.filter(status=BackfillJob.Status.RUNNING) | jobs.filter(
        status=BackfillJob.Status.QUEUED, updated_at__lt=stale_queued
    )
    resumed = []
    for job_id in candidates.values_list("id", flat=True):
        name = lease_name(job_id, database)
        if is_held(name):
            continue
        if dispatch_once(name, lease_seconds):
            dispatch(job_id, database)
            resumed.append(job_id)
    return resumed


@shared_task(ignore_result=True, time_limit=600)
def find_gaps():
    """Record the holes of every active series in the ledger and queue their repair."""
    found = find_holes()
    queued = queue_repairs(found) + repair_open_gaps()
    return {"found": len(found), "repairs_queued": len(queued)}
