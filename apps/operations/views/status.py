"""/api/status (API keys with the admin scope) and /metrics (Prometheus; restrictable with a token)."""

import hmac

from django.conf import settings
from django.http import HttpResponse
from drf_spectacular.utils import extend_schema
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from rest_framework.permissions import AllowAny

from apps.operations.metrics_server import registry
from apps.operations.status import build_status
from lib.http.render import JsonView, json_response


class StatusView(JsonView):
    access = "admin"
    permission_classes = [AllowAny]
    authentication_classes = []

    @extend_schema(
        operation_id="status",
        summary="Everything an operator watches: streams, starlisting freshness, workers, queues, errors",
        responses={200: dict},
    )
    def get(self, request):
        return json_response(build_status())


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
