"""Export jobs over HTTP: ``POST /exports`` queues one, ``GET /exports/{id}`` tells its status and,
once done, gives download links that expire; ``GET /exports/{id}/files/{name}?token=`` serves a file.

The body of ``POST /exports`` is JSON: ``type``, ``exchange``, ``coin``,
``quote``, ``market_type``, ``interval`` (candles and merged),
``format`` (csv, parquet or both), optional ``start_time``/``end_time``
(half-open ``[start, end)``, UTC) and ``numbers`` (Parquet: decimal or float64).
"""

from django.conf import settings
from django.http import FileResponse, JsonResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.parsers import JSONParser

from apps.marketdata import queries
from apps.marketdata.api.serializers import ExportJobRequestSerializer, ExportJobSerializer, export_job_body
from apps.marketdata.export import spec
from apps.marketdata.export.formats import NUMBERS
from apps.marketdata.export.jobs import FORMATS, LinkRefused, check_link, directory_of
from apps.marketdata.models import ExportJob
from apps.marketdata.tasks import run_export_job
from lib import job_caps
from lib.http.errors import InvalidParameters, NotFound
from lib.http.params import parse_time
from lib.http.render import JsonView, json_response
from lib.http.schema import ErrorSerializer

_JOB_ID = OpenApiParameter("job_id", OpenApiTypes.UUID, OpenApiParameter.PATH)
_JOB = OpenApiResponse(ExportJobSerializer, description="The job, with download links once done")
_REQUEST_EXAMPLE = OpenApiExample(
    "BTC 1m candles for a day, CSV",
    value={"type": "candles", "exchange": "hyperliquid", "coin": "BTC", "quote": "USD", "market_type": "perps",
           "interval": "1m", "format": "csv", "start_time": "2026-11-20", "end_time": "2026-11-21"},
    request_only=True,
)  # fmt: skip


def _validated(data):
    errors, values = [], {}

    def choice(name, choices, default=None):
        value = data.get(name, default)
        if value not in choices:
            errors.append(("body", name, f"must be one of {', '.join(choices)}"))
        return value

    def text(name, required=True):
        value = data.get(name)
        if value is None and not required:
            return ""
        if not isinstance(value, str) or not value.strip():
            errors.append(("body", name, "must be a non-empty string"))
            return ""
        if "\x00" in value or not _utf8(value):  # PostgreSQL takes neither: a 500 otherwise
            errors.append(("body", name, "must not hold NUL or unpaired surrogate characters"))
            return ""
        return value.strip()

    values["export_type"] = choice("type", spec.TYPES)
    for name in ("exchange", "coin", "quote", "market_type"):
        values[name] = text(name)
    values["interval"] = text("interval", required=values["export_type"] in spec.WITH_INTERVAL)
    if values["export_type"] not in spec.WITH_INTERVAL and values["interval"]:
        errors.append(("body", "interval", f"{values['export_type']} exports take no interval"))
    values["format"] = choice("format", list(FORMATS), "csv")
    values["numbers"] = choice("numbers", NUMBERS, "decimal")
    for name in ("start_time", "end_time"):
        raw = data.get(name)
        try:
            values[name] = None if raw is None else parse_time(str(raw))
        except ValueError as error:
            errors.append(("body", name, str(error)))
    if values.get("start_time") and values.get("end_time") and values["start_time"] >= values["end_time"]:
        errors.append(("body", "end_time", "must be after start_time (the window is [start_time, end_time))"))
    if errors:
        raise InvalidParameters(errors)
    return values


def _utf8(value):
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


def _key_id(request):
    key = getattr(request, "kirby_key", None)  # the verified key, set by apps.access.middleware
    return None if key is None else key.id


def _may_read(request, job):
    """The key that queued the job, and admins; anyone when keys are switched off (KIRBY_AUTH_REQUIRED)."""
    if not settings.KIRBY_AUTH_REQUIRED:
        return True
    key = getattr(request, "kirby_key", None)
    return key is not None and ("admin" in key.scopes or key.id == job.created_by_key_id)


class ExportJobsView(JsonView):
    access = "read"
    parser_classes = [JSONParser]

    @extend_schema(operation_id="export_job_create", summary="Queue an export job", request=ExportJobRequestSerializer,
                   examples=[_REQUEST_EXAMPLE],
                   responses={202: _JOB, 400: ErrorSerializer, 404: ErrorSerializer, 429: ErrorSerializer})  # fmt: skip
    def post(self, request):
        data = request.data if isinstance(request.data, dict) else {}
        values = _validated(data)
        path = (values["exchange"], values["coin"], values["quote"], values["market_type"])
        if values["export_type"] in spec.WITH_INTERVAL:
            found = queries.find_starlisting(*path, values["interval"])
        else:
            found = queries.find_trading_pair(*path)
        if found is None:
            raise NotFound(f"Not found: {'/'.join(filter(None, (*path, values['interval'])))}")
        active = ExportJob.objects.filter(status__in=(ExportJob.QUEUED, ExportJob.RUNNING))
        cap = settings.KIRBY_EXPORT_MAX_ACTIVE_JOBS_PER_KEY
        with job_caps.admitted(
            "export", job_caps.subject_of(request), cap,
            lambda ids: active.filter(id__in=ids).values_list("id", flat=True),
            "export jobs", "KIRBY_EXPORT_MAX_ACTIVE_JOBS_PER_KEY",
        ) as add:  # fmt: skip
            job = ExportJob.objects.create(**values, created_by_key_id=_key_id(request))
            add(job.id)
        run_export_job.delay(str(job.id))
        return json_response(export_job_body(job), status=202)


class ExportJobView(JsonView):
    access = "read"

    @extend_schema(operation_id="export_job", summary="Status of an export job, with download links once done",
                   description="Only the key that queued the job and admin keys see it; to others it is a 404.",
                   parameters=[_JOB_ID], responses={200: _JOB, 404: ErrorSerializer})  # fmt: skip
    def get(self, request, job_id):
        job = ExportJob.objects.filter(id=job_id).first()
        if job is None or not _may_read(request, job):  # another key's job is not found, not forbidden
            raise NotFound(f"Export job not found: {job_id}")
        return json_response(export_job_body(job))


class ExportDownloadView(JsonView):
    # The signed, expiring link is the credential (it can be handed to a job runner without a key);
    # requests still meet the per-IP rate limit.
    access = "public"

    @extend_schema(operation_id="export_job_file", summary="Download a file of a finished export job",
                   parameters=[_JOB_ID, OpenApiParameter("token", OpenApiTypes.STR, required=True,
                                                         description="The signed token of the download link")],
                   responses={200: OpenApiResponse(description="The file"), 403: ErrorSerializer,
                              404: ErrorSerializer})  # fmt: skip
    def get(self, request, job_id, name):
        try:
            check_link(job_id, name, request.GET.get("token"))
        except LinkRefused as refused:
            return JsonResponse({"detail": str(refused)}, status=403)
        job = ExportJob.objects.filter(id=job_id, status=ExportJob.DONE).first()
        names = {n for item in (job.files if job else []) for n in (item["name"], item["sidecar"])}
        path = directory_of(job_id) / name
        if name not in names or not path.is_file():
            raise NotFound(f"File not found: {name}")
        return FileResponse(path.open("rb"), as_attachment=True, filename=name)
