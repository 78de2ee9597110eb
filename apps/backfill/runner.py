"""Running one backfill job: the history engine over the job's window, with a checkpoint per page.

A job lives in the database of the series it fills and holds a lease in
Redis while it runs (a second delivery of the same job finds it taken and
leaves). Each page's rows and the job's checkpoint are committed in one
transaction of that database, so a job cut short by a crash resumes at its
checkpoint and stores nothing twice; cancelling is seen at the next page,
whose rows are then rolled back. A 429 slows the exchange's shared budget
and the job continues from its checkpoint: it is not a failure.
"""

import logging
import time

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from apps.backfill import engine, ledger
from apps.backfill.models import BackfillJob, Gap
from apps.backfill.sources import SOURCES
from apps.collectors.lease import Lease
from lib.budget import Budget
from lib.metrics import record_backfill_rows
from lib.timeutil import from_ms, to_ms

log = logging.getLogger(__name__)


class Cancelled(Exception):
    pass


class TooManyRateLimits(Exception):
    pass


def lease_name(job_id, database="default"):
    return f"backfill/{job_id}" if database == "default" else f"backfill/{database}/{job_id}"


def run_job(job_id, database="default", *, on_page=None):
    """Run (or resume) a queued or running job; None when it is running elsewhere or has ended.

    ``on_page(job)`` is called after every stored page (the command line's progress bar).
    Errors other than 429s are raised after being recorded on the job; the caller retries.
    """
    lease = Lease(lease_name(job_id, database), settings.KIRBY_BACKFILL_LEASE_SECONDS)
    if not lease.acquire():
        return None
    jobs = BackfillJob.objects.using(database)
    try:
        with transaction.atomic(using=database):
            job = jobs.select_for_update().filter(id=job_id, status__in=BackfillJob.ACTIVE).first()
            if job is None:
                return None
            job.status, job.attempts = BackfillJob.Status.RUNNING, job.attempts + 1
            job.started_at = job.started_at or timezone.now()
            job.save(update_fields=["status", "attempts", "started_at", "updated_at"])
        try:
            with lease.kept():  # a page slower than the lease must not let supervision start the job twice
                _Run(job, lease, on_page).run()
        except Cancelled:
            log.info("backfill #%s cancelled", job.id)
        except Exception as error:
            jobs.filter(id=job.id).update(last_error=f"{type(error).__name__}: {error}"[:2000])
            raise
        job.refresh_from_db()
        return job
    finally:
        lease.release()


class _Run:
    def __init__(self, job, lease, on_page):
        self.job, self.lease, self.on_page = job, lease, on_page
        self.using = job._state.db
        self.jobs = BackfillJob.objects.using(self.using)
        self.series = ledger.series_of(job)
        self.budget = Budget(self.series.exchange, on_wait=self._renew)
        final_before = int((time.time() - settings.KIRBY_BACKFILL_CLOCK_MARGIN_SECONDS) * 1000)
        if job.source == BackfillJob.Source.GAP:
            final_before = max(final_before, to_ms(job.end_time))
        self.source = SOURCES[job.data_type](self.series, self.budget, final_before, self.using)

    def run(self):
        job = self.job
        end_ms, in_a_row = to_ms(job.end_time), 0
        while True:
            cursor = to_ms(job.checkpoint or job.start_time)
            try:
                engine.fill(
                    self.source, cursor, end_ms, purpose="job", publish=self._publishes(),
                    on_page=self._store, after_page=self._stored,
                )  # fmt: skip
                break
            except self.source.rate_limited:
                in_a_row += 1
                self.jobs.filter(id=job.id).update(rate_limited=F("rate_limited") + 1)
                job.rate_limited += 1
                if in_a_row > settings.KIRBY_BACKFILL_MAX_429_IN_A_ROW:
                    raise TooManyRateLimits(f"{in_a_row} answers of 429 in a row") from None
                self._renew()
        self._finish()

    def _publishes(self):
        # Live subscribers get what fills a recent hole of their series (a gap repair), not a year of
        # history a new series or an operator asked for: that would flood every client of the series.
        return self.using == "default" and self.job.source == BackfillJob.Source.GAP

    def _store(self, page, written, filled):
        """Inside the page's transaction: the checkpoint commits with the rows."""
        self._renew()
        job = self.job
        first_page = job.checkpoint is None and job.pages == 0
        if first_page and page.first_ms is not None and self._history_ends_after_start(page.first_ms):
            job.available_from = from_ms(page.first_ms)
        checkpoint = from_ms(min(page.next_ms, to_ms(job.end_time)))
        updated = self.jobs.filter(id=job.id, status=BackfillJob.Status.RUNNING).update(
            checkpoint=checkpoint, pages=F("pages") + 1, rows_written=F("rows_written") + written.written,
            available_from=job.available_from, updated_at=timezone.now(),
        )  # fmt: skip
        if not updated:
            raise Cancelled
        job.checkpoint, job.pages, job.rows_written = checkpoint, job.pages + 1, job.rows_written + written.written
        self._last_written = written.written

    def _stored(self, filled):
        record_backfill_rows(self.job.data_type, self._last_written)
        if self.on_page:
            self.on_page(self.job)

    def _history_ends_after_start(self, first_ms):
        """Does the exchange's history begin after the job's start? (Else [start, first) had no trades.)"""
        first_slot = self.series.slots.ceil(to_ms(self.job.start_time))
        if first_ms <= first_slot:
            return False
        horizon = self.source.earliest(first_ms)
        return horizon is None or horizon > first_slot

    def _renew(self):
        if not self.lease.renew() and not self.lease.acquire():
            raise RuntimeError("the job's lease was taken over; another worker runs it now")

    def _finish(self):
        job = self.job
        if job.available_from is not None:
            job.note = (
                f"the exchange had data only from {job.available_from:%Y-%m-%dT%H:%M:%SZ}:"
                f" [{job.start_time:%Y-%m-%dT%H:%M:%SZ}, {job.available_from:%Y-%m-%dT%H:%M:%SZ}) is not available"
            )
        elif job.pages == 0:
            end_ms = to_ms(job.end_time)
            if self._history_ends_after_start(end_ms):
                job.available_from = job.end_time
                job.note = "the exchange's history does not reach back to this window"
            else:
                job.note = "the exchange has no data in the window"
        done = self.jobs.filter(id=job.id, status=BackfillJob.Status.RUNNING).update(
            status=BackfillJob.Status.SUCCEEDED, checkpoint=job.end_time, finished_at=timezone.now(),
            note=job.note, available_from=job.available_from, last_error="", updated_at=timezone.now(),
        )  # fmt: skip
        if not done:
            raise Cancelled
        job.refresh_from_db()
        if job.available_from is not None:
            unavailable_end = min(job.available_from, job.end_time)
            ledger.record_gap(
                self.series, to_ms(job.start_time), to_ms(unavailable_end), Gap.Reason.NEVER_COLLECTED,
                status=Gap.Status.UNRECOVERABLE, detail=job.note, using=self.using,
            )  # fmt: skip
        ledger.settle_repair(job)
