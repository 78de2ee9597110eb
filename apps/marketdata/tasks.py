from celery import shared_task
from django.conf import settings

from apps.marketdata.partitions import ensure_partitions_ahead


@shared_task(time_limit=300, expires=23 * 3600)
def create_partitions_ahead():
    """Daily: monthly partitions from last month to KIRBY_PARTITION_MONTHS_AHEAD ahead, in every database."""
    for alias in settings.DATABASES:
        ensure_partitions_ahead(settings.KIRBY_PARTITION_MONTHS_AHEAD, using=alias)


@shared_task(time_limit=6 * 3600, acks_late=True)
def run_export_job(job_id):
    """Write an export job's files; a retry after a lost worker starts the job over."""
    from apps.marketdata.export.jobs import run_job
    from apps.marketdata.models import ExportJob

    job = ExportJob.objects.filter(id=job_id).first()
    if job is None or job.status == ExportJob.DONE:
        return
    run_job(job)
