import shutil

from celery import shared_task
from django.conf import settings

from apps.marketdata import retention
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
    """Delete export jobs (and their files) past the export_files retention policy; returns how many."""
    cutoff = retention.horizons()["export_files"]
    return 0 if cutoff is None else purge_exports(cutoff).rows


def purge_exports(cutoff, dry_run=False):
    """Export jobs finished before ``cutoff`` and their files (rows: jobs, bytes: their files)."""
    freed = retention.Freed()
    for job in ExportJob.objects.filter(finished_at__lt=cutoff):
        directory = directory_of(job.id)
        size = sum(f.stat().st_size for f in directory.rglob("*") if f.is_file()) if directory.exists() else 0
        freed.add(1, size, job.finished_at, job.finished_at)
        if not dry_run:
            shutil.rmtree(directory, ignore_errors=True)
            job.delete()
    return freed
