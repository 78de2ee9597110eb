"""Schema helpers every API documents with: the error body, window and path parameters.

Used by drf-spectacular (``/api/schema/``); the response bodies themselves
are built by the views.
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers


class ErrorLocationSerializer(serializers.Serializer):
    loc = serializers.ListField(child=serializers.CharField())
    msg = serializers.CharField()


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()
    errors = ErrorLocationSerializer(many=True, required=False)


TIME_HELP = (
    "ISO-8601 (naive means UTC), a date, or a Unix epoch in seconds or milliseconds."
    " The window is half-open: start_time inclusive, end_time exclusive."
)
WINDOW_PARAMETERS = [
    OpenApiParameter("start_time", OpenApiTypes.STR, description=f"Inclusive start. {TIME_HELP}"),
    OpenApiParameter("end_time", OpenApiTypes.STR, description=f"Exclusive end. {TIME_HELP}"),
    OpenApiParameter("limit", OpenApiTypes.INT, description="Rows to return, 1..5000 (default 1000)"),
]


def path_parameters(*names):
    return [OpenApiParameter(name, OpenApiTypes.STR, OpenApiParameter.PATH) for name in names]


PAIR_PATH = ("exchange", "coin", "quote", "market_type")


def document_paths_without_trailing_slash(endpoints, **kwargs):
    """Routes accept both forms (``/?$``); document the canonical one, without the slash."""
    return [(path.rstrip("/") or "/", regex, method, callback) for path, regex, method, callback in endpoints]
