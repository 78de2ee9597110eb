"""Backfill jobs (management: ``access = "admin"``) and the gap ledger (data: ``access = "read"``) over REST."""

from datetime import UTC, datetime

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import exceptions

from apps.backfill import jobs
from apps.backfill.api.serializers import (
    RELATED,
    GapListSchema,
    JobListSchema,
    JobSchema,
    RequestSchema,
    gap_body,
    job_body,
)
from apps.backfill.models import BackfillJob, DataType, Gap
from apps.marketdata import queries
from lib import job_caps
from lib.http.errors import InvalidParameters, NotFound
from lib.http.params import EARLIEST, QueryParams, parse_time, path_id
from lib.http.render import JsonView, json_response
from lib.http.schema import INTERVALS, ErrorSerializer, id_parameter, limit_parameter, time_parameter

MAX_DAYS = 3650
_ERRORS = {400: ErrorSerializer, 404: ErrorSerializer}
_JOB_ID = [id_parameter("job_id")]


class Conflict(exceptions.APIException):
    status_code = 409


def _choice(params, name, choices):
    value = params.query.get(name)
    if value is not None and value not in choices:
        params.errors.append(("query", name, f"must be one of {', '.join(choices)}"))
        return None
    return value


def _job_id(raw):
    job = BackfillJob.objects.select_related(*RELATED).filter(id=path_id(raw, "job_id")).first()
    if job is None:
        raise NotFound(f"Backfill job {raw} not found")
    return job


def _window(body, errors):
    """[start, end) from start_time/end_time, or the last ``days`` days (default KIRBY_BACKFILL_DAYS)."""
    times = {}
    for name in ("start_time", "end_time"):
        raw = body.get(name)
        if raw is not None:
            try:
                times[name] = parse_time(str(raw))
            except ValueError as error:
                errors.append(("body", name, str(error)))
    days = body.get("days")
    if days is not None:
        if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
            errors.append(("body", "days", f"must be an integer between 1 and {MAX_DAYS}"))
            days = None
        elif "start_time" in times:
            errors.append(("body", "days", "give either days or start_time, not both"))
    end = times.get("end_time") or datetime.now(UTC)
    if "start_time" in times:
        start = times["start_time"]
    else:
        start = jobs.default_window(days, now=end)[0]  # end is at least 1970, days at most MAX_DAYS: no overflow
        if start < EARLIEST and not errors:
            errors.append(("body", "days" if days else "end_time", "the window would start before 1970-01-01"))
            start = EARLIEST
    if start >= end and not errors:
        errors.append(("body", "end_time", "must be after start_time (the window is [start_time, end_time))"))
    return start, end


class BackfillListView(JsonView):
    access = "admin"

    @extend_schema(
        operation_id="backfills",
        summary="Backfill jobs, newest first",
        parameters=[
            OpenApiParameter("status", OpenApiTypes.STR, enum=BackfillJob.Status.values),
            OpenApiParameter("data_type", OpenApiTypes.STR, enum=["candles", "funding"]),
            OpenApiParameter("exchange", OpenApiTypes.STR),
            OpenApiParameter("coin", OpenApiTypes.STR),
            limit_parameter(maximum=1000, default=100, what="Jobs"),
        ],
        responses={
            200: JobListSchema,
            400: ErrorSerializer,
        },  # fmt: skip
    )
    def get(self, request):
        params = QueryParams(request)
        status = _choice(params, "status", BackfillJob.Status.values)
        data_type = _choice(params, "data_type", ["candles", "funding"])
        limit = params.integer("limit", 100, 1, 1000)
        params.raise_if_invalid()
        queryset = BackfillJob.objects.select_related(*RELATED).order_by("-id")
        if status:
            queryset = queryset.filter(status=status)
        if data_type:
            queryset = queryset.filter(data_type=data_type)
        if exchange := request.GET.get("exchange"):
            queryset = queryset.filter(trading_pair__exchange__name__iexact=exchange)
        if coin := request.GET.get("coin"):
            queryset = queryset.filter(trading_pair__coin__symbol__iexact=coin)
        items = [job_body(job) for job in queryset[:limit]]
        return json_response({"jobs": items, "count": len(items)})

    @extend_schema(
        operation_id="backfill_create",
        summary="Start a backfill job",
        description=(
            "Body: data_type (candles | funding, default candles), exchange, coin, quote, market_type, interval"
            " (candles), and start_time / end_time (half-open, end defaults to now) or days."
        ),
        request=RequestSchema,
        examples=[
            OpenApiExample(
                "BTC 1m candles, the last day",
                value={
                    "exchange": "hyperliquid",
                    "coin": "BTC",
                    "quote": "USD",
                    "market_type": "perps",
                    "interval": "1m",
                    "days": 1,
                },
                request_only=True,
            )
        ],  # fmt: skip
        responses={201: JobSchema, 400: ErrorSerializer, 429: ErrorSerializer},
    )
    def post(self, request):
        body = request.data
        if not isinstance(body, dict):
            raise InvalidParameters([("body", "body", "must be a JSON object")])
        errors = []
        for name in ("exchange", "coin", "quote", "market_type", "interval"):
            if body.get(name) is not None and not isinstance(body[name], str):
                errors.append(("body", name, "must be a string"))
        data_type = body.get("data_type", DataType.CANDLES)
        if data_type not in ("candles", "funding"):
            errors.append(("body", "data_type", "must be candles or funding"))
        start, end = _window(body, errors)
        if errors:  # before resolving: a name that is not a string cannot be looked up
            raise InvalidParameters(errors)
        try:
            pair = queries.resolve_trading_pair(
                *(body.get(name) for name in ("exchange", "coin", "quote", "market_type"))
            )
            starlisting = queries.resolve_starlisting(pair, body.get("interval")) if data_type == "candles" else None
        except queries.Unresolved as error:
            raise InvalidParameters([("body", error.field, str(error).split(": ", 1)[1])]) from None
        active = BackfillJob.objects.filter(status__in=BackfillJob.ACTIVE)
        with job_caps.admitted(
            "backfill", job_caps.subject_of(request), settings.KIRBY_BACKFILL_MAX_ACTIVE_JOBS_PER_KEY,
            lambda ids: active.filter(id__in=ids).values_list("id", flat=True),
            "backfill jobs", "KIRBY_BACKFILL_MAX_ACTIVE_JOBS_PER_KEY",
        ) as add:  # fmt: skip
            job = jobs.create_job(
                data_type, starlisting_id=starlisting and starlisting[0], trading_pair_id=pair[0],
                start=start, end=end, source=BackfillJob.Source.API,
            )  # fmt: skip
            add(job.id)
        job = BackfillJob.objects.select_related(*RELATED).get(id=job.id)
        return json_response(job_body(job), status=201)


class BackfillDetailView(JsonView):
    access = "admin"

    @extend_schema(
        operation_id="backfill", summary="One backfill job", parameters=_JOB_ID, responses={200: JobSchema, **_ERRORS}
    )
    def get(self, request, job_id):
        return json_response(job_body(_job_id(job_id)))

    @extend_schema(
        operation_id="backfill_cancel",
        summary="Cancel a queued or running job (a running one stops after its current page)",
        parameters=_JOB_ID,
        responses={200: JobSchema, 409: ErrorSerializer, **_ERRORS},
    )
    def delete(self, request, job_id):
        job = _job_id(job_id)
        if not jobs.cancel(job):
            raise Conflict(f"Backfill job {job.id} has already {job.status}; nothing to cancel")
        job.refresh_from_db()
        return json_response(job_body(job))


class GapListView(JsonView):
    access = "read"

    @extend_schema(
        operation_id="gaps",
        summary="The gap ledger: missing ranges, newest first",
        parameters=[
            OpenApiParameter("exchange", OpenApiTypes.STR),
            OpenApiParameter("coin", OpenApiTypes.STR),
            OpenApiParameter("interval", OpenApiTypes.STR, enum=INTERVALS),
            OpenApiParameter("data_type", OpenApiTypes.STR, enum=DataType.values),
            OpenApiParameter("status", OpenApiTypes.STR, enum=Gap.Status.values),
            time_parameter("start_time", "Gaps ending after this.", "2026-11-19"),
            time_parameter("end_time", "Gaps starting before this.", "2026-11-21T00:00:00Z"),
            limit_parameter(what="Gaps"),
        ],
        responses={
            200: GapListSchema,
            400: ErrorSerializer,
        },  # fmt: skip
    )
    def get(self, request):
        params = QueryParams(request)
        data_type = _choice(params, "data_type", DataType.values)
        status = _choice(params, "status", Gap.Status.values)
        window = params.window()
        params.raise_if_invalid()
        queryset = Gap.objects.select_related(*RELATED).order_by("-start_time", "-id")
        if exchange := request.GET.get("exchange"):
            queryset = queryset.filter(trading_pair__exchange__name__iexact=exchange)
        if coin := request.GET.get("coin"):
            queryset = queryset.filter(trading_pair__coin__symbol__iexact=coin)
        if interval := request.GET.get("interval"):
            queryset = queryset.filter(starlisting__interval__name=interval)
        if data_type:
            queryset = queryset.filter(data_type=data_type)
        if status:
            queryset = queryset.filter(status=status)
        if window.start:
            queryset = queryset.filter(end_time__gt=window.start)
        if window.end:
            queryset = queryset.filter(start_time__lt=window.end)
        items = [gap_body(gap) for gap in queryset[: window.limit]]
        return json_response({"gaps": items, "count": len(items)})
