"""``GET /export/{type}/{exchange}/{coin}/{quote}/{market_type}[/{interval}]``: a streamed export file.

Types ``candles`` and ``merged`` need the interval, ``funding`` and
``open_interest`` take none. Query: ``format=csv|parquet`` (default csv),
``start_time`` (inclusive), ``end_time`` (exclusive), ``numbers=decimal|float64``
(Parquet). Reads the production database only. The response streams while
rows are read, with the 1.x file name in ``Content-Disposition``.

It is bounded: a window of more than ``KIRBY_EXPORT_SYNC_MAX_ROWS`` rows is a
400 that points to ``POST /exports``, and ``X-Kirby-Rows`` tells the rows the
body holds, so a client can tell a complete file from a cut one. A transfer
past ``KIRBY_EXPORT_SYNC_MAX_SECONDS`` is cut: under WSGI (gunicorn) the
connection ends without the final chunk, which HTTP clients report as an
incomplete body; under Daphne the body ends early, with fewer rows than
``X-Kirby-Rows`` (as it does when a proxy or server timeout cuts it).
"""

from datetime import UTC, datetime

from django.conf import settings
from django.db import connections
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view

from apps.marketdata import queries
from apps.marketdata.export import files, http, spec
from apps.marketdata.export.formats import CONTENT_TYPES, CSV, FORMATS, NUMBERS, PARQUET, arrow_schema
from apps.marketdata.export.resolve import Pair
from apps.marketdata.export.stream import copy_rows
from lib.http.errors import InvalidParameters, NotFound
from lib.http.params import QueryParams
from lib.http.render import JsonView
from lib.http.schema import PAIR_PATH, WINDOW_PARAMETERS, ErrorSerializer, path_parameters


def _choice(params, name, choices, default):
    def parse(raw):
        if raw not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}")
        return raw

    return params._get(name, parse, default)


def _series(export_type, exchange, coin, quote, market_type, interval):
    """(Pair, interval, series id for spec.select) of the path; 404 when it names nothing."""
    path = "/".join(filter(None, (exchange, coin, quote, market_type, interval)))
    if export_type in spec.WITH_INTERVAL:
        found = queries.find_starlisting(exchange, coin, quote, market_type, interval)
        if found is None:
            raise NotFound(f"Starlisting not found: {path}")
        pair_found = queries.find_trading_pair(exchange, coin, quote, market_type)
        names, pair_id = found[2], pair_found[0]
        series_id = found[0] if export_type == spec.CANDLES else (found[0], pair_id)
    else:
        found = queries.find_trading_pair(exchange, coin, quote, market_type)
        if found is None:
            raise NotFound(f"Trading pair not found: {path}")
        names, pair_id = found[2], found[0]
        series_id = pair_id
    pair = Pair(pair_id, names["exchange"], names["coin"], names["quote"], names["market_type"])
    return pair, series_id


def _rows_within_limit(export_type, series_id, start, end):
    """Rows of the export; a 400 pointing to POST /exports when more than KIRBY_EXPORT_SYNC_MAX_ROWS."""
    limit = settings.KIRBY_EXPORT_SYNC_MAX_ROWS
    query = spec.count_up_to(export_type, series_id, start, end, limit + 1)
    with connections["default"].cursor() as cursor:
        cursor.execute(query.sql, query.params)
        rows = cursor.fetchone()[0]
    if rows > limit:
        message = (
            f"the window holds more than {limit} rows (KIRBY_EXPORT_SYNC_MAX_ROWS): narrow start_time/end_time,"
            " or run it as a job with POST /exports"
        )
        raise InvalidParameters([("query", "end_time", message)])
    return rows


def _type_parameter(types):
    return OpenApiParameter("export_type", OpenApiTypes.STR, OpenApiParameter.PATH, enum=list(types))


_PARAMETERS = [
    *path_parameters(*PAIR_PATH),
    *WINDOW_PARAMETERS[:2],
    OpenApiParameter("format", OpenApiTypes.STR, enum=list(FORMATS), description="csv (default) or parquet"),
    OpenApiParameter("numbers", OpenApiTypes.STR, enum=list(NUMBERS), description="Parquet numbers (default decimal)"),
]


class ExportView(JsonView):
    """JsonView: errors are JSON, and DRF must not read ``format`` as a renderer choice."""

    access = "read"

    @extend_schema(
        operation_id="export",
        summary="Stream an export file (CSV or Parquet) of candles, funding, open interest or merged rows",
        description="candles and merged need the interval path segment; funding and open_interest take none.",
        parameters=[_type_parameter(spec.WITH_INTERVAL), *_PARAMETERS, *path_parameters("interval")],
        responses={
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.BINARY),
            (200, "application/vnd.apache.parquet"): OpenApiResponse(OpenApiTypes.BINARY),
            400: ErrorSerializer,
            404: ErrorSerializer,
        },
    )
    def get(self, request, export_type, exchange, coin, quote, market_type, interval=None):
        params = QueryParams(request)
        if export_type not in spec.TYPES:
            params.errors.append(("path", "type", f"must be one of {', '.join(spec.TYPES)}"))
        elif export_type in spec.WITH_INTERVAL and interval is None:
            params.errors.append(("path", "interval", f"{export_type} exports need an interval"))
        elif export_type not in spec.WITH_INTERVAL and interval is not None:
            raise NotFound(f"{export_type} exports take no interval")
        fmt = _choice(params, "format", FORMATS, CSV)
        numbers = _choice(params, "numbers", NUMBERS, "decimal")
        start, end = params.time("start_time"), params.time("end_time")
        if start is not None and end is not None and start >= end:
            params.errors.append(
                ("query", "end_time", "must be after start_time (the window is [start_time, end_time))")
            )
        if params.errors:
            raise InvalidParameters(params.errors)
        pair, series_id = _series(export_type, exchange, coin, quote, market_type, interval)
        # An open end is pinned to now, so the rows counted are the rows sent (X-Kirby-Rows).
        end = end or datetime.now(UTC)
        rows = _rows_within_limit(export_type, series_id, start, end)
        lines = copy_rows(spec.select(export_type, series_id, start, end), "default")
        if fmt == PARQUET:
            body = http.parquet_body(lines, arrow_schema(spec.COLUMNS[export_type], numbers))
        else:
            body = http.csv_body(lines)
        body = http.within(body, settings.KIRBY_EXPORT_SYNC_MAX_SECONDS)
        name = files.file_name(export_type, pair, interval, files.stamp(), fmt)
        response = StreamingHttpResponse(http.for_request(request, body), content_type=CONTENT_TYPES[fmt])
        response["X-Kirby-Rows"] = str(rows)
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        response["X-Kirby-Window"] = f"[{files.iso(start) or '-inf'}, {files.iso(end) or '+inf'})"
        if fmt == PARQUET:
            response["X-Kirby-Parquet-Numbers"] = numbers
        return response


@extend_schema_view(
    get=extend_schema(
        operation_id="export_pair",
        summary="Stream an export file of funding or open_interest rows (no interval)",
        description="",
        parameters=[
            _type_parameter(t for t in spec.TYPES if t not in spec.WITH_INTERVAL),
            # This path has no interval segment (the parameter is inherited from ExportView's get).
            OpenApiParameter("interval", OpenApiTypes.STR, OpenApiParameter.PATH, exclude=True),
        ],
        responses={
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.BINARY),
            (200, "application/vnd.apache.parquet"): OpenApiResponse(OpenApiTypes.BINARY),
            400: ErrorSerializer,
            404: ErrorSerializer,
        },
    )
)
class PairExportView(ExportView):
    access = "read"
