import orjson
from django.http import HttpResponse
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC


def json_bytes(body):
    """Serialise with orjson: UTC times as ``...Z``; decimals arrive as strings already."""
    return orjson.dumps(body, option=_OPTIONS)


def json_response(body, status=200):
    return HttpResponse(json_bytes(body), status=status, content_type="application/json")


def iso(moment):
    return (
        None
        if moment is None
        else moment.strftime("%Y-%m-%dT%H:%M:%S") + (f".{moment.microsecond:06d}Z" if moment.microsecond else "Z")
    )


class JsonView(APIView):
    """An APIView that only ever answers JSON: no content negotiation on the hot path."""

    _renderer = JSONRenderer()

    def perform_content_negotiation(self, request, force=False):
        return self._renderer, self._renderer.media_type
