import shutil
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from apps.marketdata.export.jobs import directory_of, run_job
from apps.marketdata.models import ExportJob
from apps.marketdata.partitions import ensure_partitions_ahead


@shared_task(time_limit=300)
def create_partitions_ahead():
    """Daily: monthly partitions from last month to KIRBY_PARTITION_MONTHS_AHEAD ahead, in every database."""
    for alias in settings.DATABASES:
        ensure_partitions_ahead(settings.KIRBY_PARTITION_MONTHS_AHEAD, using=alias)


# The soft limit lets the job record that it failed before the hard one ends the process.
@shared_task(soft_time_limit=6 * 3600, time_limit=6 * 3600 + 120, acks_late=True)
def run_export_job(job_id):
    """Write an export job's files; a retry after a lost worker starts the job over."""
    job = ExportJob.objects.filter(id=job_id).first()
    if job is None or job.status == ExportJob.DONE:
        return
    run_job(job)


@shared_task(time_limit=600)
def purge_export_jobs():
    """Delete export jobs (and their files) finished more than KIRBY_EXPORT_RETENTION_HOURS ago; returns how many."""
    cutoff = timezone.now() - timedelta(hours=settings.KIRBY_EXPORT_RETENTION_HOURS)
    purged = 0
    for job in ExportJob.objects.filter(finished_at__lt=cutoff):
        shutil.rmtree(directory_of(job.id), ignore_errors=True)
        job.delete()
        purged += 1
    return purged
