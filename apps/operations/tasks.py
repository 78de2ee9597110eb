"""Beat tasks of operations: status samples; retention and backups (queue maintenance)."""

from celery import shared_task

from apps.operations import retention
from apps.operations.backups import jobs
from apps.operations.models import Backup
from apps.operations.samples import take_sample


@shared_task(ignore_result=True, time_limit=60)
def sample_status():
    """Store a sample unless one was taken less than a period ago (the status builder may have)."""
    sample = take_sample()
    return None if sample is None else sample["t"]


@shared_task(ignore_result=True, soft_time_limit=6 * 3600, time_limit=6 * 3600 + 120)
def enforce_retention():
    """Daily: every retention policy; returns the rows freed."""
    return sum(freed.rows for _, _, freed, _ in retention.enforce() if freed is not None)


@shared_task(ignore_result=True, soft_time_limit=6 * 3600, time_limit=6 * 3600 + 120)
def run_backups():
    """Daily: a backup of every configured database, then the rotation; returns the ids that failed."""
    return [b.id for b in jobs.back_up_all() if b.status != Backup.DONE]


@shared_task(ignore_result=True, soft_time_limit=6 * 3600, time_limit=6 * 3600 + 120)
def verify_newest_backup():
    """Weekly: restore the newest backup into a scratch database and compare it with its manifest."""
    return jobs.verify_newest()
