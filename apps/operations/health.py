"""/health's completeness: computed by the periodic status sampler, stored in Redis, served as stored.

Completeness counts candles of every active starlisting over a window of
hours, which is far too much work for an anonymous endpoint polled by load
balancers. The sampler (``samples.take_sample``, every
``KIRBY_STATUS_SAMPLE_SECONDS``) computes it once per period for the whole
cluster; /health reads one Redis key and says how old the figures are.
"""

import json
import time
from datetime import UTC, datetime

from django.conf import settings

from apps.backfill.completeness import report as completeness_report
from lib.http.render import iso
from lib.redis import client

COMPLETENESS_KEY = "kirby:health:completeness"
KEEP_PERIODS = 20  # a stopped sampler lets the figures lapse instead of serving them forever


def _default(value):
    if isinstance(value, datetime):
        return iso(value)
    raise TypeError(type(value).__name__)


def store_completeness(now=None):
    """Compute every active starlisting's completeness and store it with the time it was computed."""
    now = time.time() if now is None else now
    document = {"computed_at": now, "starlistings": completeness_report(int(now * 1000))}
    keep = max(60, int(settings.KIRBY_STATUS_SAMPLE_SECONDS * KEEP_PERIODS))
    client().set(COMPLETENESS_KEY, json.dumps(document, default=_default, separators=(",", ":")), ex=keep)
    return document


def stored_completeness(now=None):
    """(per-path completeness, computed_at ISO time, age in seconds); ({}, None, None) before the first sample."""
    raw = client().get(COMPLETENESS_KEY)
    if raw is None:
        return {}, None, None
    document = json.loads(raw)
    now = time.time() if now is None else now
    computed_at = document["computed_at"]
    moment = datetime.fromtimestamp(computed_at, tz=UTC).replace(microsecond=0)
    return document["starlistings"], iso(moment), round(max(0.0, now - computed_at), 1)
