"""Readiness probes of the services Kirby depends on."""

import asyncio
import logging
import time

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.cache import cache
from django.db import connections

log = logging.getLogger(__name__)


def check_database(using="default"):
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def check_redis():
    cache.set("readyz", time.time(), timeout=10)


def check_channel_layer():
    layer = get_channel_layer()

    async def roundtrip():
        channel = await layer.new_channel()
        await layer.send(channel, {"type": "readyz"})
        await asyncio.wait_for(layer.receive(channel), timeout=2)

    async_to_sync(roundtrip)()


CHECKS = {"database": check_database, "redis": check_redis, "channel_layer": check_channel_layer}


def run_checks(names=None):
    """{name: "ok" | "error: <what failed>"} for each check.

    The answer names the service and the kind of failure, never the driver's
    message: that carries host names, ports and user names, and the probes are
    public. The full message goes to the log.
    """
    results = {}
    for name in names or CHECKS:
        try:
            CHECKS[name]()
            results[name] = "ok"
        except Exception as error:  # a probe reports every failure, whatever its type
            log.warning("readiness check %s failed: %s: %s", name, type(error).__name__, error)
            results[name] = f"error: {name.replace('_', ' ')} unreachable ({type(error).__name__})"
    return results
