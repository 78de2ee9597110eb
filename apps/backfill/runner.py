"""Running one backfill job: page through the exchange's history, store, checkpoint.

A job holds a lease in Redis while it runs (a second delivery of the same
job finds it taken and leaves). Each page's rows and the job's checkpoint
are committed in one transaction, so a job cut short by a crash resumes at
its checkpoint and stores nothing twice; cancelling is seen at the next
page, whose rows are then rolled back. A 429 slows the exchange's shared
budget and the job continues from its checkpoint: it is not a failure.
"""

import logging
import time

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from apps.backfill import ledger
from apps.backfill.budget import Budget
from apps.backfill.models import BackfillJob, Gap
from apps.backfill.series import series_of
from apps.backfill.sources import SOURCES
from apps.collectors.lease import Lease
from lib.metrics import record_backfill_rows
from lib.timeutil import from_ms, to_ms

log = logging.getLogger(__name__)


class Cancelled(Exception):
    pass


class TooManyRateLimits(Exception):
    pass


def lease_name(job_id):
    return f"backfill/{job_id}"


def run_job(job_id, *, on_page=None):
    """Run (or resume) a queued or running job; None when it is running elsewhere or has ended.

    ``on_page(job)`` is called after every stored page (the command line's progress bar).
    Errors other than 429s are raised after being recorded on the job; the caller retries.
    """
    lease = Lease(lease_name(job_id), settings.KIRBY_BACKFILL_LEASE_SECONDS)
    if not lease.acquire():
        return None
    try:
        with transaction.atomic():
            job = BackfillJob.objects.select_for_update().filter(id=job_id, status__in=BackfillJob.ACTIVE).first()
            if job is None:
                return None
            job.status, job.attempts = BackfillJob.Status.RUNNING, job.attempts + 1
            job.started_at = job.started_at or timezone.now()
            job.save(update_fields=["status", "attempts", "started_at", "updated_at"])
        try:
            _Run(job, lease, on_page).run()
        except Cancelled:
            log.info("backfill #%s cancelled", job.id)
        except Exception as error:
            BackfillJob.objects.filter(id=job.id).update(last_error=f"{type(error).__name__}: {error}"[:2000])
            raise
        job.refresh_from_db()
        return job
    finally:
        lease.release()


class _Run:
    def __init__(self, job, lease, on_page):
        self.job, self.lease, self.on_page = job, lease, on_page
        self.series = series_of(job, job.database)
        self.budget = Budget(self.series.exchange, on_wait=self._renew)
        final_before = int(time.time() * 1000)
        if job.source == BackfillJob.Source.GAP:
            final_before = max(final_before, to_ms(job.end_time))
        self.source = SOURCES[job.data_type](self.series, self.budget, final_before, job.database)

    def run(self):
        job, rate_limited = self.job, self.source.adapter.history.RateLimited
        end_ms, in_a_row = to_ms(job.end_time), 0
        while True:
            cursor = to_ms(job.checkpoint or job.start_time)
            try:
                self._pages(cursor, end_ms)
                break
            except rate_limited:
                in_a_row += 1
                BackfillJob.objects.filter(id=job.id).update(rate_limited=F("rate_limited") + 1)
                job.rate_limited += 1
                if in_a_row > settings.KIRBY_BACKFILL_MAX_429_IN_A_ROW:
                    raise TooManyRateLimits(f"{in_a_row} answers of 429 in a row") from None
                self._renew()
        self._finish()

    def _pages(self, cursor, end_ms):
        for raw in self.source.pages(cursor, end_ms):
            self._renew()
            page = self.source.convert(raw)
            self._store(page)
            if not page.final:
                return

    def _store(self, page):
        job = self.job
        first_page = job.checkpoint is None and job.pages == 0
        if first_page and page.first_ms is not None and self._history_ends_after_start(page.first_ms):
            job.available_from = from_ms(page.first_ms)
        checkpoint = from_ms(min(page.next_ms, to_ms(job.end_time)))
        with transaction.atomic(), transaction.atomic(using=job.database):
            written = (
                self.source.write(page.records, using=job.database, exchange=self.source.series.exchange).written
                if page.records
                else 0
            )
            updated = BackfillJob.objects.filter(id=job.id, status=BackfillJob.Status.RUNNING).update(
                checkpoint=checkpoint, pages=F("pages") + 1, rows_written=F("rows_written") + written,
                available_from=job.available_from, updated_at=timezone.now(),
            )  # fmt: skip
            if not updated:
                raise Cancelled
        job.checkpoint, job.pages, job.rows_written = checkpoint, job.pages + 1, job.rows_written + written
        record_backfill_rows(job.data_type, written)
        if self.on_page:
            self.on_page(job)

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
        done = BackfillJob.objects.filter(id=job.id, status=BackfillJob.Status.RUNNING).update(
            status=BackfillJob.Status.SUCCEEDED, checkpoint=job.end_time, finished_at=timezone.now(),
            note=job.note, available_from=job.available_from, last_error="", updated_at=timezone.now(),
        )  # fmt: skip
        if not done:
            raise Cancelled
        job.refresh_from_db()
        if job.database == "default":
            self._ledger(job)

    def _ledger(self, job):
        if job.available_from is not None:
            unavailable_end = min(job.available_from, job.end_time)
            ledger.record_gap(
                self.series, to_ms(job.start_time), to_ms(unavailable_end), Gap.Reason.NEVER_COLLECTED,
                status=Gap.Status.UNRECOVERABLE, detail=job.note,
            )  # fmt: skip
        ledger.settle_repair(job)
