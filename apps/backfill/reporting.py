"""What the status document (apps.operations.status) reports of backfills and gaps."""

from django.db.models import Count

from apps.backfill.api.serializers import job_body
from apps.backfill.models import BackfillJob, DataType, Gap


def running_jobs():
    """Running jobs as the REST API shows them (with progress), oldest first."""
    jobs = BackfillJob.objects.filter(status=BackfillJob.Status.RUNNING).select_related(
        "trading_pair__exchange", "trading_pair__coin", "trading_pair__quote", "trading_pair__market_type",
        "starlisting__interval",
    ).order_by("id")  # fmt: skip
    return [job_body(job) for job in jobs]


def job_counts():
    """{status: jobs}, every status present (zero included), for the document and ``kirby_backfill_jobs``."""
    counts = dict.fromkeys(BackfillJob.Status.values, 0)
    counts.update(BackfillJob.objects.values_list("status").annotate(n=Count("id")).order_by())
    return counts


def open_gaps(starlisting_ids):
    """{starlisting id: open candle gaps} for the given starlistings (absent: none)."""
    return dict(
        Gap.objects.filter(starlisting_id__in=starlisting_ids, data_type=DataType.CANDLES, status=Gap.Status.OPEN)
        .values_list("starlisting_id")
        .annotate(n=Count("id"))
        .order_by()
    )


def open_gaps_total():
    return Gap.objects.filter(status=Gap.Status.OPEN).count()
