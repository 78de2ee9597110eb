"""Enforcing every retention policy: the daily task and ``manage.py retention`` run this.

Each layer removes its own data (apps.marketdata.retention for the
time-series tables, the export jobs of apps.marketdata, the API usage log of
apps.access); backups are aged out by their rotation (apps.operations.backups).
Each policy's outcome is stored on it (the admin, /api/status and the
dashboard show it) and counted in the ``kirby_retention_*`` metrics. After a
purge the gap ledger forgets gaps before the horizon: purged history is not
a gap.
"""

import logging

from django.utils import timezone

from apps.access.tasks import purge_usage
from apps.backfill.ledger import forget_before_horizons
from apps.marketdata import retention
from apps.marketdata.tasks import purge_exports
from lib.metrics import record_retention

log = logging.getLogger(__name__)


def _purge(name, cutoff, dry_run):
    if name in retention.SERIES_POLICIES:
        return retention.purge_series(name, cutoff, dry_run=dry_run)
    if name == "api_usage":
        return purge_usage(cutoff, dry_run=dry_run)
    if name == "export_files":
        return purge_exports(cutoff, dry_run=dry_run)
    return None  # backups: the rotation applies the policy (apps.operations.backups.rotation)


def enforce(dry_run=False, now=None):
    """[(policy, horizon, Freed or None, error)] of every policy; a dry run changes nothing."""
    now = now or timezone.now()
    outcomes = []
    for name, policy in retention.policies().items():
        cutoff = retention.horizon(policy.keep_days, now)
        freed, error = None, ""
        if cutoff is not None:
            try:
                freed = _purge(name, cutoff, dry_run)
            except Exception as exc:  # one failing policy must not stop the others
                log.exception("retention of %s failed", name)
                error = f"{type(exc).__name__}: {exc}"
        if not dry_run and (cutoff is not None or policy.last_run_at is None):
            retention.record_run(policy, freed, error)
            if freed is not None:
                record_retention(name, freed.rows, freed.bytes, len(freed.partitions))
        outcomes.append((policy, cutoff, freed, error))
    if not dry_run:
        forget_before_horizons(now)
    return outcomes


def policy_rows():
    """The retention section of the status document: each policy, its horizon, last run and what it freed."""
    now = timezone.now()
    rows = []
    for name, policy in retention.policies().items():
        cutoff = retention.horizon(policy.keep_days, now)
        rows.append({
            "name": name,
            "keep_days": policy.keep_days,
            "horizon": cutoff,
            "last_run_at": policy.last_run_at,
            "last_rows_freed": policy.last_rows_freed,
            "last_bytes_freed": policy.last_bytes_freed,
            "last_partitions_dropped": policy.last_partitions_dropped,
            "last_error": policy.last_error or None,
        })  # fmt: skip
    return rows
