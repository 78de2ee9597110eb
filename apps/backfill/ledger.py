"""The gap ledger: recording missing ranges, and settling them after a repair.

Ranges are recorded once: a new range is cut around the ranges already in
the ledger for the same series (an advisory lock per series serialises the
collector's reconnect repair and the periodic scan), and a piece is kept
only if some of its slots hold no row. A gap is *repaired* when Kirby holds
everything the exchange has for it (slots still empty then are ones the
exchange has nothing for: no trades, or an exchange outage), and
*unrecoverable* when the exchange's history does not reach it.
"""

import zlib
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from apps.backfill.models import BackfillJob, Gap
from apps.backfill.series import series_of
from lib.timeutil import from_ms, to_ms

REPAIRABLE = ("candles", "funding")


def _lock(series):
    key = zlib.crc32(f"gaps:{series.data_type}:{series.series_id}".encode())
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])


def _uncovered(series, start_ms, end_ms):
    """Pieces of ``[start, end)`` not yet covered by a gap of the series, in order."""
    existing = Gap.objects.filter(
        data_type=series.data_type, start_time__lt=from_ms(end_ms), end_time__gt=from_ms(start_ms),
        **({"starlisting_id": series.starlisting_id} if series.data_type == "candles"
           else {"trading_pair_id": series.trading_pair_id}),
    ).order_by("start_time").values_list("start_time", "end_time")  # fmt: skip
    pieces, cursor = [], start_ms
    for gap_start, gap_end in existing:
        if to_ms(gap_start) > cursor:
            pieces.append((cursor, to_ms(gap_start)))
        cursor = max(cursor, to_ms(gap_end))
    if cursor < end_ms:
        pieces.append((cursor, end_ms))
    return pieces


def record_gap(series, start_ms, end_ms, reason, *, status=Gap.Status.OPEN, detail=""):
    """Record ``[start, end)`` (aligned out to whole slots) as missing; return the new Gap rows."""
    slots = series.slots
    start_ms, end_ms = slots.ceil(start_ms), slots.ceil(end_ms)
    if start_ms >= end_ms:
        return []
    created = []
    with transaction.atomic():
        _lock(series)
        for piece_start, piece_end in _uncovered(series, start_ms, end_ms):
            missing = series.missing(piece_start, piece_end)
            if missing == 0:
                continue
            created.append(
                Gap.objects.create(
                    data_type=series.data_type,
                    starlisting_id=series.starlisting_id,
                    trading_pair_id=series.trading_pair_id,
                    start_time=from_ms(piece_start),
                    end_time=from_ms(piece_end),
                    missing=missing,
                    reason=reason,
                    status=status,
                    detail=detail,
                    repaired_at=timezone.now() if status == Gap.Status.REPAIRED else None,
                )  # fmt: skip
            )
    return created


def mark_repaired(gap, series=None):
    """The exchange was asked for the whole gap and everything it had is stored."""
    series = series or series_of(gap)
    start_ms, end_ms = to_ms(gap.start_time), to_ms(gap.end_time)
    expected, present = series.slots.count(start_ms, end_ms), series.present(start_ms, end_ms)
    gap.status, gap.repaired_at = Gap.Status.REPAIRED, timezone.now()
    gap.detail = f"{present} of {expected} slots stored"
    if present < expected:
        gap.detail += f"; the exchange has nothing for {expected - present} (no trades, or an exchange outage)"
    if present == 0:
        gap.reason = Gap.Reason.EXCHANGE_OUTAGE
    gap.save(update_fields=["status", "repaired_at", "detail", "reason"])


def mark_unrecoverable(gap, detail):
    gap.status, gap.detail = Gap.Status.UNRECOVERABLE, detail[:2000]
    gap.save(update_fields=["status", "detail"])


def settle_repair(job):
    """Update the gaps a finished repair job was made for."""
    for gap in Gap.objects.filter(job=job, status=Gap.Status.OPEN):
        if job.status == BackfillJob.Status.SUCCEEDED:
            if job.available_from is not None and job.available_from > gap.start_time:
                mark_unrecoverable(gap, f"the exchange's history starts at {job.available_from:%Y-%m-%dT%H:%M:%SZ}")
            else:
                mark_repaired(gap)
        elif job.status == BackfillJob.Status.FAILED:
            gap.detail = f"repair job #{job.id} failed: {job.last_error}"[:2000]
            gap.save(update_fields=["detail"])


def repair_open_gaps(limit=100):
    """Queue a repair job for each open gap that has none running.

    Gaps found in the last KIRBY_GAP_SETTLE_SECONDS are left alone: the
    collector that recorded one may still be reading it back.
    """
    young = timezone.now() - timedelta(seconds=settings.KIRBY_GAP_SETTLE_SECONDS)
    busy = Q(job__status__in=BackfillJob.ACTIVE) | Q(found_at__gt=young)
    return queue_repairs(Gap.objects.filter(status=Gap.Status.OPEN).exclude(busy).order_by("start_time")[:limit])


def queue_repairs(gaps):
    """One repair job per gap; a gap without history, or whose repairs failed too often, is unrecoverable."""
    queued = []
    with transaction.atomic():  # the jobs go to the workers once the gaps point at them
        for gap in gaps:
            gap = Gap.objects.select_for_update(of=("self",)).select_related("job").get(id=gap.id)
            if gap.status != Gap.Status.OPEN or (gap.job and gap.job.status in BackfillJob.ACTIVE):
                continue  # repaired meanwhile, or someone else queued its repair
            job = _queue_repair(gap)
            if job is not None:
                queued.append(job)
    return queued


def _queue_repair(gap):
    from apps.backfill.jobs import create_job  # jobs -> ledger; imported here to keep the module graph one-way

    if gap.data_type not in REPAIRABLE:
        mark_unrecoverable(gap, "the exchange has no history of this data")
        return None
    if gap.repair_attempts >= settings.KIRBY_GAP_REPAIR_ATTEMPTS:
        mark_unrecoverable(gap, f"gave up after {gap.repair_attempts} repair attempts; {gap.detail}")
        return None
    job = create_job(
        gap.data_type, starlisting_id=gap.starlisting_id, trading_pair_id=gap.trading_pair_id,
        start=gap.start_time, end=gap.end_time, source=BackfillJob.Source.GAP,
    )  # fmt: skip
    gap.job, gap.repair_attempts = job, gap.repair_attempts + 1
    gap.save(update_fields=["job", "repair_attempts"])
    return job
