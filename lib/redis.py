"""One shared Redis client per process for Kirby's own keys (not the cache)."""

import functools

import redis
from django.conf import settings


@functools.cache
def client():
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5, socket_connect_timeout=2)
