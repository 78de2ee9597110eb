"""JSON shapes of jobs and gaps (times UTC ``...Z``; windows half-open)."""

from drf_spectacular.utils import inline_serializer
from rest_framework import serializers

from lib.http.render import iso

_PAIR_RELATED = ["trading_pair__exchange", "trading_pair__coin", "trading_pair__quote", "trading_pair__market_type"]
RELATED = [*_PAIR_RELATED, "starlisting__interval"]


def _names(obj):
    pair = obj.trading_pair
    return {
        "exchange": pair.exchange.name,
        "coin": pair.coin.symbol,
        "quote": pair.quote.symbol,
        "market_type": pair.market_type.name,
        "interval": obj.starlisting.interval.name if obj.starlisting_id else None,
        "starlisting_id": obj.starlisting_id,
        "trading_pair_id": obj.trading_pair_id,
    }


def job_body(job):
    return {
        "id": job.id,
        "data_type": job.data_type,
        **_names(job),
        "start_time": iso(job.start_time),
        "end_time": iso(job.end_time),
        "status": job.status,
        "progress": job.progress,
        "checkpoint": iso(job.checkpoint),
        "rows_written": job.rows_written,
        "pages": job.pages,
        "attempts": job.attempts,
        "rate_limited": job.rate_limited,
        "last_error": job.last_error or None,
        "available_from": iso(job.available_from),
        "note": job.note or None,
        "source": job.source,
        "database": job.database,
        "created_at": iso(job.created_at),
        "started_at": iso(job.started_at),
        "finished_at": iso(job.finished_at),
    }


def gap_body(gap):
    return {
        "id": gap.id,
        "data_type": gap.data_type,
        **_names(gap),
        "start_time": iso(gap.start_time),
        "end_time": iso(gap.end_time),
        "missing": gap.missing,
        "reason": gap.reason,
        "status": gap.status,
        "found_at": iso(gap.found_at),
        "repaired_at": iso(gap.repaired_at),
        "detail": gap.detail or None,
        "job_id": gap.job_id,
    }


_NAME_FIELDS = {
    "exchange": serializers.CharField(),
    "coin": serializers.CharField(),
    "quote": serializers.CharField(),
    "market_type": serializers.CharField(),
    "interval": serializers.CharField(allow_null=True),
    "starlisting_id": serializers.IntegerField(allow_null=True),
    "trading_pair_id": serializers.IntegerField(),
}
JobSchema = inline_serializer("BackfillJob", {
    "id": serializers.IntegerField(), "data_type": serializers.CharField(help_text="candles | funding"), **_NAME_FIELDS,
    "start_time": serializers.DateTimeField(), "end_time": serializers.DateTimeField(help_text="Exclusive"),
    "status": serializers.CharField(help_text="queued | running | succeeded | failed | cancelled"),
    "progress": serializers.FloatField(help_text="0..1"), "checkpoint": serializers.DateTimeField(allow_null=True),
    "rows_written": serializers.IntegerField(), "pages": serializers.IntegerField(),
    "attempts": serializers.IntegerField(), "rate_limited": serializers.IntegerField(),
    "last_error": serializers.CharField(allow_null=True),
    "available_from": serializers.DateTimeField(allow_null=True, help_text="Earliest data the exchange had"),
    "note": serializers.CharField(allow_null=True), "source": serializers.CharField(),
    "database": serializers.CharField(), "created_at": serializers.DateTimeField(),
    "started_at": serializers.DateTimeField(allow_null=True), "finished_at": serializers.DateTimeField(allow_null=True),
})  # fmt: skip
GapSchema = inline_serializer("Gap", {
    "id": serializers.IntegerField(),
    "data_type": serializers.CharField(help_text="candles | funding | open_interest"), **_NAME_FIELDS,
    "start_time": serializers.DateTimeField(), "end_time": serializers.DateTimeField(help_text="Exclusive"),
    "missing": serializers.IntegerField(help_text="Slots missing when found"),
    "reason": serializers.CharField(help_text="downtime | exchange_outage | never_collected"),
    "status": serializers.CharField(help_text="open | repaired | unrecoverable"),
    "found_at": serializers.DateTimeField(), "repaired_at": serializers.DateTimeField(allow_null=True),
    "detail": serializers.CharField(allow_null=True), "job_id": serializers.IntegerField(allow_null=True),
})  # fmt: skip
# API.md: the lists are {"jobs": [...], "count": n} and {"gaps": [...], "count": n}.
JobListSchema = inline_serializer(
    "BackfillJobs", {"jobs": serializers.ListField(child=JobSchema), "count": serializers.IntegerField()}
)
GapListSchema = inline_serializer(
    "Gaps", {"gaps": serializers.ListField(child=GapSchema), "count": serializers.IntegerField()}
)
RequestSchema = inline_serializer(
    "BackfillRequest",
    {
        "data_type": serializers.CharField(help_text="candles | funding", required=False),
        "exchange": serializers.CharField(),
        "coin": serializers.CharField(),
        "quote": serializers.CharField(),
        "market_type": serializers.CharField(),
        "interval": serializers.CharField(required=False),
        "start_time": serializers.CharField(required=False),
        "end_time": serializers.CharField(required=False),
        "days": serializers.IntegerField(required=False),
    },
)
