"""HTTP caching of read answers: ``ETag`` on every cached-path answer, ``304`` on a matching ``If-None-Match``.

An answer that can never change again (a window of closed candles in the past)
is ``Cache-Control: public, max-age=...`` so a CDN or the client keeps it; any
other answer is ``no-cache``: it may be stored, but must be revalidated. The
ETag is a hash of the body, so a 304 is right even if the body did change.
"""

from django.conf import settings
from django.http import HttpResponse, HttpResponseNotModified
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse

IF_NONE_MATCH = OpenApiParameter(
    "If-None-Match",
    OpenApiTypes.STR,
    location=OpenApiParameter.HEADER,
    description="An ETag of an earlier answer: 304 without a body if it is still the answer.",
)
NOT_MODIFIED = OpenApiResponse(description="Not modified: the answer still has the ETag given in If-None-Match.")


def _matches(header, etag):
    if not header:
        return False
    if header.strip() == "*":
        return True
    weakless = etag.removeprefix("W/")
    return any(candidate.strip().removeprefix("W/") == weakless for candidate in header.split(","))


def cached_response(request, answer, *, final=False):
    """The 200 (or 304) for a ``lib.cache.Answer``; ``final``: the answer can never change again."""
    if final:
        control = f"public, max-age={settings.KIRBY_CACHE_IMMUTABLE_MAX_AGE_SECONDS}"
    else:
        control = "no-cache"
    if _matches(request.headers.get("If-None-Match"), answer.etag):
        response = HttpResponseNotModified()
    else:
        response = HttpResponse(answer.body, content_type="application/json")
    response["ETag"] = answer.etag
    response["Cache-Control"] = control
    return response
