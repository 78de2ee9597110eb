"""The gap ledger: recording missing ranges, and settling them after a repair.

Ranges are recorded once: a new range is cut around the ranges already in
the ledger for the same series (an advisory lock per series serialises the
collector's reconnect repair and the periodic scan), and a piece is kept
only if some of its slots hold no row. A gap is *repaired* when Kirby holds
everything the exchange has for it (slots still empty then are ones the
exchange has nothing for: no trades, or an exchange outage), and
*unrecoverable* when the exchange's history does not reach it. The ledger
of a series lives in the series' database (``using``): the live one or the
training one.
"""

import zlib

from django.db import connections, transaction
from django.utils import timezone

from apps.backfill.models import BackfillJob, DataType, Gap
from apps.marketdata import retention
from apps.marketdata.series import candle_series, pair_series
from apps.markets.models import Starlisting
from lib.timeutil import from_ms, to_ms


def series_of(obj, using=None):
    """The series of a BackfillJob or Gap (read from the database the object lives in)."""
    using = using or obj._state.db or "default"
    if obj.data_type == "candles":
        return candle_series(obj.starlisting_id, using)
    return pair_series(obj.data_type, obj.trading_pair_id, using)


def _lock(series, using):
    key = zlib.crc32(f"gaps:{series.data_type}:{series.series_id}".encode())
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])


def _uncovered(series, start_ms, end_ms, using):
    """Pieces of ``[start, end)`` not yet covered by a gap of the series, in order."""
    existing = Gap.objects.using(using).filter(
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


def record_gap(series, start_ms, end_ms, reason, *, status=Gap.Status.OPEN, detail="", using="default"):
    """Record ``[start, end)`` (aligned out to whole slots) as missing; return the new Gap rows.

    History before the series' retention horizon was removed on purpose: never a gap.
    """
    slots = series.slots
    # Retention purges the live database only; the training database keeps its history.
    horizon = retention.horizon_of_series(series, using=using) if using == "default" else None
    if horizon is not None:
        start_ms = max(start_ms, to_ms(horizon))
    start_ms, end_ms = slots.ceil(start_ms), slots.ceil(end_ms)
    if start_ms >= end_ms:
        return []
    created = []
    with transaction.atomic(using=using):
        _lock(series, using)
        for piece_start, piece_end in _uncovered(series, start_ms, end_ms, using):
            missing = series.missing(piece_start, piece_end, using)
            if missing == 0:
                continue
            created.append(
                Gap.objects.using(using).create(
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
    using = gap._state.db or "default"
    series = series or series_of(gap)
    start_ms, end_ms = to_ms(gap.start_time), to_ms(gap.end_time)
    expected, present = series.slots.count(start_ms, end_ms), series.present(start_ms, end_ms, using)
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
    for gap in Gap.objects.using(job._state.db or "default").filter(job=job, status=Gap.Status.OPEN):
        if job.status == BackfillJob.Status.SUCCEEDED:
            if job.available_from is not None and job.available_from > gap.start_time:
                mark_unrecoverable(gap, f"the exchange's history starts at {job.available_from:%Y-%m-%dT%H:%M:%SZ}")
            else:
                mark_repaired(gap)
        elif job.status == BackfillJob.Status.FAILED:
            gap.detail = f"repair job #{job.id} failed: {job.last_error}"[:2000]
            gap.save(update_fields=["detail"])


def forget_before_horizons(now=None, using="default"):
    """After a purge: drop the ledger's gaps that end before their series' horizon, cut those that straddle it."""
    cuts = retention.horizons(now)
    forgotten = 0
    intervals = dict(Starlisting.objects.using(using).values_list("id", "interval__name"))
    for gap in Gap.objects.using(using).all().iterator():
        interval = intervals.get(gap.starlisting_id) if gap.data_type == DataType.CANDLES else None
        cutoff = cuts.get(retention.series_policy(gap.data_type, interval))
        if cutoff is None or gap.start_time >= cutoff:
            continue
        if gap.end_time <= cutoff:
            gap.delete()
        else:
            gap.start_time = cutoff
            gap.save(update_fields=["start_time"])
        forgotten += 1
    return forgotten
