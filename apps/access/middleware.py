"""The one gate in front of every view: API key, scope, rate limit, usage (API.md "Authentication").

Order per request: find the view's access level; identify the key (cached,
see ``keys``); count the request against the key's limit, or the client
IP's when no valid key came; refuse with 429, 401 or 403 as API.md words
them; after the response, add the X-RateLimit headers and record the use.
"""

import time
from datetime import UTC, datetime

from django.conf import settings

from apps.access import keys, limits, policy, usage
from lib.http.render import json_response
from lib.metrics import RATE_LIMITED


def refuse(status, message, quota=None):
    response = json_response({"detail": message}, status=status)
    if status == 401:
        response["WWW-Authenticate"] = "Bearer"
    if quota is not None:
        _add_quota(response, quota)
    return response


def _add_quota(response, quota):
    for name, value in quota.headers().items():
        response[name] = value
    if quota.exceeded:
        response["Retry-After"] = str(quota.retry_after)


class ApiAccessMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        quota = getattr(request, "kirby_quota", None)
        if quota is not None and "X-RateLimit-Limit" not in response:
            _add_quota(response, quota)
        key = getattr(request, "kirby_key", None)
        if key is not None:
            usage.record(
                usage.Use(
                    key.id,
                    datetime.now(UTC),
                    request.method,
                    request.path,
                    response.status_code,
                    (time.perf_counter() - started) * 1000,
                    policy.client_ip(request),
                    request.META.get("HTTP_USER_AGENT", ""),
                )
            )
        return response

    def process_view(self, request, view_func, view_args, view_kwargs):
        level = policy.level_of(request, view_func)
        if level == policy.EXEMPT:
            return None
        if level == policy.PROBE:
            return self._limit_probe(request)
        if not settings.KIRBY_AUTH_REQUIRED and level != policy.ADMIN:
            return None
        presented = policy.presented_key(request)
        info = keys.lookup(presented) if presented else None
        usable = info is not None and keys.refusal(info, scope=None) is None
        if info is not None:
            request.kirby_key = info  # refused uses of a known key are recorded too
        quota = None
        if settings.KIRBY_RATE_LIMIT_ENABLED and not (usable and info.exempt_from_limits):
            if usable:
                quota = limits.count_request(f"key:{info.id}", info.rate_limit or settings.KIRBY_RATE_LIMIT_PER_MINUTE)
            else:
                ip = policy.client_ip(request)
                quota = limits.count_request(f"ip:{ip}", settings.KIRBY_RATE_LIMIT_ANON_PER_MINUTE)
            request.kirby_quota = quota
            if quota is not None and quota.exceeded:
                RATE_LIMITED.labels("key" if usable else "ip").inc()
                return refuse(429, "Rate limit exceeded", quota)
        if level == policy.PUBLIC:
            return None
        problem = keys.refusal(info, scope=level, presented=presented is not None)
        if problem is not None:
            return refuse(*problem, quota)
        return None

    @staticmethod
    def _limit_probe(request):
        if not settings.KIRBY_RATE_LIMIT_ENABLED:
            return None
        quota = limits.count_request(f"probe:{policy.client_ip(request)}", settings.KIRBY_HEALTH_RATE_LIMIT_PER_MINUTE)
        request.kirby_quota = quota
        if quota is not None and quota.exceeded:
            RATE_LIMITED.labels("ip").inc()
            return refuse(429, "Rate limit exceeded", quota)
        return None
