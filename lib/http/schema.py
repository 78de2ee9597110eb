"""Schema helpers every API documents with: the error body, window and path parameters.

Used by drf-spectacular (``/api/schema/``); the response bodies themselves
are built by the views.
"""

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiExample, OpenApiParameter
from rest_framework import serializers

from lib.http.params import MAX_ID, MAX_LIMIT


class ErrorLocationSerializer(serializers.Serializer):
    loc = serializers.ListField(child=serializers.CharField())
    msg = serializers.CharField()


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()
    errors = ErrorLocationSerializer(many=True, required=False)


TIME_HELP = (
    "ISO-8601 (naive means UTC), a date, or a Unix epoch in seconds or milliseconds,"
    " from 1970-01-01 to before 9000-01-01 UTC."
    " The window is half-open: start_time inclusive, end_time exclusive."
)
# The shapes parse_time accepts (the calendar itself is checked by the view: a 400 naming the parameter).
TIME_SCHEMA = {
    "type": "string",
    "pattern": r"^([0-9]{1,13}|(19[7-9][0-9]|2[0-9]{3})-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])"
    r"([T ]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?(Z|[+-](0[0-9]|1[0-3]):[0-5][0-9])?)?)$",
    "example": "2026-11-20T00:00:00Z",
}
LIMIT_SCHEMA = {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": 1000}


def _example(value):
    return [OpenApiExample(str(value), value=value)]


def time_parameter(name, description, example=None):
    return OpenApiParameter(
        name, TIME_SCHEMA, description=f"{description} {TIME_HELP}", examples=_example(example) if example else []
    )


def limit_parameter(maximum=MAX_LIMIT, default=1000, what="Rows"):
    schema = {**LIMIT_SCHEMA, "maximum": maximum, "default": default}
    return OpenApiParameter(
        "limit", schema, description=f"{what} to return, 1..{maximum} (default {default})", examples=_example(10)
    )


WINDOW_PARAMETERS = [
    time_parameter("start_time", "Inclusive start.", "2026-11-20T00:00:00Z"),
    time_parameter("end_time", "Exclusive end.", "2026-11-21"),
    limit_parameter(),
]

# A series' path as the views resolve it; the examples name the series every fresh install has.
PATH_EXAMPLES = {
    "exchange": "hyperliquid",
    "coin": "BTC",
    "quote": "USD",
    "market_type": "perps",
    "interval": "1m",
}
# The interval names Kirby knows (apps.markets seeds them; case-sensitive: 1M is a month).
INTERVALS = ["1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w", "1M"]


def path_parameters(*names):
    parameters = []
    for name in names:
        schema = {"type": "string", "pattern": "^[^/]+$", "example": PATH_EXAMPLES.get(name, name)}
        if name == "interval":
            schema = {"type": "string", "enum": INTERVALS, "example": "1m"}
        parameters.append(OpenApiParameter(name, schema, OpenApiParameter.PATH, examples=_example(schema["example"])))
    return parameters


def id_parameter(name, description=""):
    """A database id in the path: what ``params.path_id`` accepts."""
    schema = {"type": "integer", "format": "int64", "minimum": 1, "maximum": MAX_ID}
    return OpenApiParameter(name, schema, OpenApiParameter.PATH, description=description)


PAIR_PATH = ("exchange", "coin", "quote", "market_type")


class KirbyAutoSchema(AutoSchema):
    """Documents the refusals every view can give, from its access level (apps.access.policy).

    read/admin: 401 (no or bad key), 403 (scope, inactive owner), 429 (over the key's or the
    address's limit); public: 429; probe: 429. Any operation with parameters or a body: 400.
    """

    REFUSALS = {"read": ("401", "403", "429"), "admin": ("401", "403", "429"), "public": ("429",), "probe": ("429",)}

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        access = getattr(self.view, "access", "read")
        codes = list(self.REFUSALS.get(access, ()))
        if self._get_parameters() or self._get_request_body(direction="request"):
            codes.append("400")
        for code in codes:
            if code not in responses:
                responses[code] = self._get_response_for_code(ErrorSerializer, code, direction=direction)
        return responses


def document_paths_without_trailing_slash(endpoints, **kwargs):
    """Routes accept both forms (``/?$``); document the canonical one, without the slash."""
    return [(path.rstrip("/") or "/", regex, method, callback) for path, regex, method, callback in endpoints]
