"""Public service endpoints: /, /health, /livez, /readyz."""

import logging
from datetime import UTC, datetime

from django.conf import settings
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny

from apps.operations.checks import run_checks
from apps.operations.health import stored_completeness
from apps.operations.status.streams import judged_streams, with_iso_times
from lib.http.render import JsonView, iso, json_response
from lib.http.schema import ErrorSerializer
from lib.version import VERSION

log = logging.getLogger(__name__)


class PublicView(JsonView):
    access = "public"
    permission_classes = [AllowAny]
    authentication_classes = []


class ProbeView(PublicView):
    """Polled by load balancers and monitors: no key, no rate limit (apps.access.policy)."""

    access = "exempt"


class LimitedProbeView(PublicView):
    """No key, but limited per client address (KIRBY_HEALTH_RATE_LIMIT_PER_MINUTE, generous for load balancers)."""

    access = "probe"


class RootView(PublicView):
    @extend_schema(operation_id="root", summary="Service information", responses={200: dict})
    def get(self, request):
        return json_response(
            {
                "name": "Kirby",
                "version": VERSION,
                "description": "Cryptocurrency market data: candles, funding rates, open interest",
                "environment": "development" if settings.DEBUG else "production",
                # 1.x's keys first (kirby-1x.md §2.1), Kirby's beside them.
                "documentation": {"swagger": "/docs", "redoc": "/redoc", "openapi": "/openapi.json"},
                "endpoints": {
                    "rest_api": "/docs",
                    "docs": "/docs",
                    "redoc": "/redoc",
                    "openapi": "/api/schema/",
                    "websocket": "/ws?api_key=YOUR_API_KEY",
                    "health": "/health",
                    "status": "/api/status",
                    "metrics": "/metrics",
                    "dashboard": "/dashboard",
                    "admin_api": "/admin/users",
                    "starlistings": "/starlistings",
                    "candles": "/candles/{exchange}/{coin}/{quote}/{market_type}/{interval}",
                    "funding": "/funding/{exchange}/{coin}/{quote}/{market_type}",
                    "open_interest": "/open-interest/{exchange}/{coin}/{quote}/{market_type}",
                },
                "features": [
                    "candles",
                    "funding_rates",
                    "open_interest",
                    "rest_api",
                    "websocket",
                    "openapi",
                    "api_keys",
                    "rate_limits",
                ],
            }
        )


class HealthView(LimitedProbeView):
    @extend_schema(
        operation_id="health",
        summary="Overall health: database and collector streams",
        responses={
            200: inline_serializer(
                "Health",
                {
                    "status": serializers.ChoiceField(["healthy", "unhealthy"]),
                    "timestamp": serializers.DateTimeField(),
                    "database": serializers.CharField(),
                    "collectors": serializers.DictField(),
                    "completeness": serializers.DictField(
                        help_text="Per active starlisting path: expected and present closed candles in a window"
                        " (KIRBY_COMPLETENESS_WINDOW_HOURS) and their ratio, as computed by the periodic"
                        " status sampler (KIRBY_STATUS_SAMPLE_SECONDS)"
                    ),
                    "completeness_computed_at": serializers.DateTimeField(allow_null=True),
                    "completeness_age_seconds": serializers.FloatField(allow_null=True),
                },
            ),
            429: ErrorSerializer,
            503: inline_serializer("Unhealthy", {"status": serializers.CharField()}),
        },
    )
    def get(self, request):
        database = run_checks(["database"])["database"]
        try:
            collectors = {name: with_iso_times(status) for name, status in judged_streams().items()}
        except Exception as error:  # Redis down must not turn /health into a 500
            log.warning("/health: collector streams unreadable: %s", error)
            collectors = {"error": "collector streams cannot be read (Redis unreachable)"}
        healthy = database == "ok"
        try:
            completeness, computed_at, age = stored_completeness()
        except Exception as error:
            log.warning("/health: stored completeness unreadable: %s", error)
            completeness, computed_at, age = {"error": "completeness cannot be read (Redis unreachable)"}, None, None
        body = {
            "status": "healthy" if healthy else "unhealthy",
            "timestamp": iso(datetime.now(UTC).replace(microsecond=0)),
            "database": "connected" if healthy else database,
            "collectors": collectors,
            "completeness": completeness,
            "completeness_computed_at": computed_at,
            "completeness_age_seconds": age,
        }
        return json_response(body, status=200 if healthy else 503)


class LivezView(ProbeView):
    @extend_schema(operation_id="livez", summary="Liveness: the process answers (no I/O)", responses={200: dict})
    def get(self, request):
        return json_response({"status": "ok"})


class ReadyzView(ProbeView):
    @extend_schema(
        operation_id="readyz",
        summary="Readiness: database, Redis and channel layer reachable (503 when not)",
        responses={200: dict, 503: dict},
    )
    def get(self, request):
        checks = run_checks()
        ready = all(result == "ok" for result in checks.values())
        return json_response({"status": "ready" if ready else "not ready", "checks": checks}, 200 if ready else 503)
