from celery import shared_task
from django.db.models import Count, Max, Min

from apps.access.models import ApiKeyUsage
from apps.marketdata import retention


@shared_task(time_limit=600)
def purge_api_usage():
    """Delete usage rows past the api_usage retention policy; returns how many."""
    cutoff = retention.horizons()["api_usage"]
    return 0 if cutoff is None else purge_usage(cutoff).rows


def purge_usage(cutoff, dry_run=False):
    """Usage rows older than ``cutoff`` (bytes estimated from the table's average row)."""
    rows = ApiKeyUsage.objects.filter(time__lt=cutoff)
    freed = retention.Freed()
    span = rows.aggregate(oldest=Min("time"), newest=Max("time"), count=Count("id"))
    if span["count"]:
        freed.add(span["count"], span["count"] * retention.average_row_bytes(ApiKeyUsage._meta.db_table),
                  span["oldest"], span["newest"])  # fmt: skip
        if not dry_run:
            rows.delete()
    return freed
