from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from apps.access.models import ApiKeyUsage


@shared_task(time_limit=600)
def purge_api_usage():
    """Delete usage rows older than KIRBY_USAGE_RETENTION_DAYS; returns how many."""
    cutoff = timezone.now() - timedelta(days=settings.KIRBY_USAGE_RETENTION_DAYS)
    deleted, _ = ApiKeyUsage.objects.filter(time__lt=cutoff).delete()
    return deleted
