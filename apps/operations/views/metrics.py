"""/metrics: Prometheus text format for scrapers; restrictable with a token (KIRBY_METRICS_TOKEN)."""

import hmac

from django.conf import settings
from django.http import HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from apps.operations.metrics_server import registry
from lib.http.render import json_response


def metrics(request):
    """Prometheus text format. With KIRBY_METRICS_TOKEN set, only for ``Authorization: Bearer <token>``."""
    token = settings.KIRBY_METRICS_TOKEN
    if token:
        scheme, _, given = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
            response = json_response({"detail": "Metrics token required"}, status=401)
            response["WWW-Authenticate"] = "Bearer"
            return response
    return HttpResponse(generate_latest(registry()), content_type=CONTENT_TYPE_LATEST)


metrics.access = "exempt"  # no API key, no rate limit: Prometheus scrapes it (token above when set)
