"""The status document: the one source of truth for /api/status, the dashboard and /health.

``build_status()`` runs small section builders (streams, starlistings, ticks,
websocket, celery, beat, backfill, database, cache, errors, retention,
backups, history) and adds the
overall ``state`` (the worst of them) with the reasons of everything not
green. A builder that fails (Redis or the database away) makes its own
section red with the error; the others are still reported.
"""

import logging
import time

from django.conf import settings

from apps.operations import samples
from apps.operations.status import keeping, services
from apps.operations.status.judge import GREEN, RED, verdict, when, worst
from apps.operations.status.starlistings import starlisting_section
from apps.operations.status.streams import stream_section
from apps.operations.status.ticks import tick_section

log = logging.getLogger(__name__)

SECTIONS = (
    "streams", "starlistings", "websocket", "celery", "beat", "backfill", "database", "cache", "errors", "retention",
    "backups", "ticks",
)  # fmt: skip


def _guarded(name, build, *args):
    try:
        return build(*args)
    except Exception as error:  # one broken section must not hide the others
        log.warning("status section %s failed: %s", name, error)
        return {"error": f"{type(error).__name__}: {error}", **verdict(RED, f"cannot be read: {error}")}


def _list_verdict(entries, what, empty):
    if isinstance(entries, dict):  # the section failed
        return entries
    states = [entry["state"] for entry in entries]
    bad = [f"{entry['name']}: {entry['reason']}" for entry in entries if entry["state"] != GREEN]
    if not entries:
        return verdict(*empty)
    return verdict(worst(states), "; ".join(bad) if bad else f"{len(entries)} {what}, all fine")


def _history(now):
    try:
        samples.take_sample(now)  # when beat's sampling is late
        return samples.samples_since(now - services.DAY)
    except Exception as error:
        log.warning("status samples unavailable: %s", error)
        return []


def _access():
    """The switches that open the API, so an operator sees them where they look every day."""
    opened = not settings.KIRBY_AUTH_REQUIRED
    return {
        "auth_required": settings.KIRBY_AUTH_REQUIRED,
        "rate_limit_enabled": settings.KIRBY_RATE_LIMIT_ENABLED,
        "warning": "KIRBY_AUTH_REQUIRED=false: data endpoints need no API key, nothing is rate-limited"
        if opened
        else None,
    }


def build_status(now=None):
    now = time.time() if now is None else now
    history = _history(now)
    streams = _guarded("streams", stream_section, now)
    starlistings = _guarded("starlistings", starlisting_section, now)
    ticks = _guarded("ticks", tick_section, now)
    no_streams = (RED, "no collector stream has reported") if starlistings else (GREEN, "no streams needed")
    document = {
        "generated_at": when(now),
        "streams": {
            "items": streams if isinstance(streams, list) else [],
            **_list_verdict(streams, "streams", no_streams),
        },
        "starlistings": {
            "items": starlistings if isinstance(starlistings, list) else [],
            **_list_verdict(starlistings, "starlistings", (GREEN, "no active starlistings")),
        },
        "ticks": {
            "items": ticks if isinstance(ticks, list) else [],
            **_list_verdict(ticks, "pairs", (GREEN, "no pair collects trades or books")),
        },
        "websocket": _guarded("websocket", services.websocket_section, now),
        "celery": _guarded("celery", services.celery_section, now),
        "beat": _guarded("beat", services.beat_section, now),
        "backfill": _guarded("backfill", services.backfill_section, now),
        "database": _guarded("database", services.database_section, now, history),
        "cache": _guarded("cache", services.cache_section, now),
        "errors": _guarded("errors", services.errors_section, now),
        "retention": _guarded("retention", keeping.retention_section),
        "backups": _guarded("backups", keeping.backups_section, now),
        "history": services.history_section(history, now),
        "access": _access(),
    }
    states = {name: document[name]["state"] for name in SECTIONS}
    document["state"] = worst(states.values())
    document["reasons"] = [f"{name}: {document[name]['reason']}" for name in SECTIONS if states[name] != GREEN]
    return document
