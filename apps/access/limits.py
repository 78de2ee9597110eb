"""Rate limits: requests per minute (REST) and open connections per key (WebSocket).

Both live in Redis so they hold across every web process. Requests are
counted with django-ratelimit in fixed one-minute windows (staggered per
key by the library, so all clients do not reset at once). WebSocket slots
are members of a sorted set per key, scored with their expiry: a live
connection renews its slot, one that ends releases it, and one whose
process died simply expires.
"""

import logging
import time
import uuid
from typing import NamedTuple

from django.conf import settings
from django.core.cache import caches
from django_ratelimit import core as ratelimit_core
from django_ratelimit.core import get_usage

from lib.redis import client as redis_client

log = logging.getLogger(__name__)

WINDOW_SECONDS = 60
GROUP = "kirby.api"


class Quota(NamedTuple):
    limit: int
    remaining: int
    reset_at: int  # Unix seconds when the window ends
    exceeded: bool

    @property
    def retry_after(self):
        return max(1, self.reset_at - int(time.time()))

    def headers(self):
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset_at),
        }


def count_request(subject, limit, cost=1):
    """Count ``cost`` requests of ``subject`` ("key:<id>" or "ip:<address>") against ``limit`` per minute.

    None when Redis cannot be reached: serving data goes on (logged), it is
    the limit that fails open. A ``cost`` above one (a WebSocket history
    request reading many series) adds to the same counter REST requests use.
    """

    def subject_of(group, request):
        return subject

    try:
        usage = get_usage(None, group=GROUP, key=subject_of, rate=(limit, WINDOW_SECONDS), increment=True)
    except Exception as error:  # redis-py raises its own errors; a limit must not take the API down
        log.warning("rate limit not applied, Redis unavailable: %s", error)
        return None
    if usage is None or usage["time_left"] < 0:
        return None
    if cost > 1:
        try:
            usage = _add(subject, limit, cost - 1, usage)
        except Exception as error:
            log.warning("rate limit not applied, Redis unavailable: %s", error)
            return None
    # django-ratelimit's window ``w`` (now + time_left) still counts during second ``w``: a new one begins at w + 1.
    reset_at = int(time.time()) + usage["time_left"] + 1
    return Quota(limit, max(0, limit - usage["count"]), reset_at, usage["should_limit"])


def _add(subject, limit, extra, usage):
    # django-ratelimit counts one per call; its own cache key (the same window and rate) takes the rest at once.
    rate = (limit, WINDOW_SECONDS)
    cache_key = ratelimit_core._make_cache_key(
        GROUP, ratelimit_core._get_window(subject, WINDOW_SECONDS), rate, subject, ratelimit_core.ALL
    )
    count = caches[getattr(settings, "RATELIMIT_USE_CACHE", "default")].incr(cache_key, extra)
    return {**usage, "count": count, "should_limit": count > limit}


_ACQUIRE = """
local now = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  return 0
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[4])
redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[3])) + 1)
return 1
"""

_RENEW = """
local now = tonumber(ARGV[1])
if redis.call('ZSCORE', KEYS[1], ARGV[3]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
  redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[2])) + 1)
  return 1
end
return 0
"""


def _slots_key(key_id):
    return f"{settings.CACHES['default'].get('KEY_PREFIX', 'kirby')}:ws-slots:{key_id}"


def _lease_seconds():
    # Two missed renewals before a slot of a dead process is given back.
    return 2 * settings.KIRBY_WS_KEY_RECHECK_SECONDS + 5


class Slot(NamedTuple):
    key_id: int
    member: str


def acquire_slot(key_id, limit):
    """A connection slot for the key, or None when ``limit`` connections are open already."""
    member = uuid.uuid4().hex
    acquired = redis_client().eval(_ACQUIRE, 1, _slots_key(key_id), time.time(), limit, _lease_seconds(), member)
    return Slot(key_id, member) if acquired else None


def renew_slots(slots):
    """Keep each slot (None: no slot, nothing to keep), in one round trip; False where a slot had expired
    (and another connection may hold it now)."""
    pipeline = redis_client().pipeline(transaction=False)
    now, lease = time.time(), _lease_seconds()
    for slot in slots:
        if slot is not None:
            pipeline.eval(_RENEW, 1, _slots_key(slot.key_id), now, lease, slot.member)
    answers = iter(pipeline.execute() if any(slot is not None for slot in slots) else ())
    return [True if slot is None else bool(next(answers)) for slot in slots]


def release_slot(slot):
    redis_client().zrem(_slots_key(slot.key_id), slot.member)
