from celery import shared_task
from django.conf import settings

from apps.marketdata.partitions import ensure_partitions_ahead


@shared_task(time_limit=300, expires=23 * 3600)
def create_partitions_ahead():
    """Daily: monthly partitions from last month to KIRBY_PARTITION_MONTHS_AHEAD ahead."""
    ensure_partitions_ahead(settings.KIRBY_PARTITION_MONTHS_AHEAD)
