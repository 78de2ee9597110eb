"""Queueing repair jobs for open gaps of the ledger.

A gap whose data the exchange has no history of, or whose repairs failed
too often, is marked unrecoverable instead.
"""

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.backfill import ledger
from apps.backfill.jobs import create_job
from apps.backfill.models import BackfillJob, Gap

REPAIRABLE = ("candles", "funding")


def repair_open_gaps(limit=100, using="default"):
    """Queue a repair job for each open gap that has none running.

    Gaps found in the last KIRBY_GAP_SETTLE_SECONDS are left alone: the
    collector that recorded one may still be reading it back.
    """
    young = timezone.now() - timedelta(seconds=settings.KIRBY_GAP_SETTLE_SECONDS)
    busy = Q(job__status__in=BackfillJob.ACTIVE) | Q(found_at__gt=young)
    open_gaps = Gap.objects.using(using).filter(status=Gap.Status.OPEN).exclude(busy).order_by("start_time")
    return queue_repairs(open_gaps[:limit])


def queue_repairs(gaps):
    """One repair job per gap (in the gap's database)."""
    queued = []
    for gap in gaps:
        using = gap._state.db or "default"
        with transaction.atomic(using=using):  # the job goes to the workers once the gap points at it
            gap = Gap.objects.using(using).select_for_update(of=("self",)).select_related("job").get(id=gap.id)
            if gap.status != Gap.Status.OPEN or (gap.job and gap.job.status in BackfillJob.ACTIVE):
                continue  # repaired meanwhile, or someone else queued its repair
            job = _queue_repair(gap, using)
            if job is not None:
                queued.append(job)
    return queued


def _queue_repair(gap, using):
    if gap.data_type not in REPAIRABLE:
        ledger.mark_unrecoverable(gap, "the exchange has no history of this data")
        return None
    if gap.repair_attempts >= settings.KIRBY_GAP_REPAIR_ATTEMPTS:
        ledger.mark_unrecoverable(gap, f"gave up after {gap.repair_attempts} repair attempts; {gap.detail}")
        return None
    job = create_job(
        gap.data_type, starlisting_id=gap.starlisting_id, trading_pair_id=gap.trading_pair_id,
        start=gap.start_time, end=gap.end_time, source=BackfillJob.Source.GAP, database=using,
    )  # fmt: skip
    if job is None:
        ledger.mark_unrecoverable(gap, "before the retention horizon: removed on purpose")
        return None
    gap.job, gap.repair_attempts = job, gap.repair_attempts + 1
    gap.save(update_fields=["job", "repair_attempts"])
    return job
