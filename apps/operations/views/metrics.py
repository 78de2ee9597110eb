"""/metrics: Prometheus text format for scrapers; restrictable with a token (KIRBY_METRICS_TOKEN)."""

import hmac
import logging
import time

from django.conf import settings
from django.http import HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from apps.operations.backups.catalog import refresh_backup_age
from apps.operations.metrics_server import registry
from apps.operations.status.ticks import refresh_tick_metrics
from lib.http.render import json_response

log = logging.getLogger(__name__)


def metrics(request):
    """Prometheus text format. With KIRBY_METRICS_TOKEN set, only for ``Authorization: Bearer <token>``."""
    token = settings.KIRBY_METRICS_TOKEN
    if token:
        scheme, _, given = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
            response = json_response({"detail": "Metrics token required"}, status=401)
            response["WWW-Authenticate"] = "Bearer"
            return response
    try:
        refresh_backup_age(time.time())
    except Exception as error:  # the database away must not take the other metrics with it
        log.warning("backup age unavailable: %s", error)
    try:
        refresh_tick_metrics(time.time())
    except Exception as error:  # Redis or the database away: the other metrics still go out
        log.warning("trade and book metrics unavailable: %s", error)
    return HttpResponse(generate_latest(registry()), content_type=CONTENT_TYPE_LATEST)


metrics.access = "exempt"  # no API key, no rate limit: Prometheus scrapes it (token above when set)
