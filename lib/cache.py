"""The response cache: rendered bodies of hot reads in Redis (``KIRBY_CACHE_URL``), never staler than the database.

Every entry depends on *tags* (one series, the reference data). Invalidating a
tag increments its version; an entry keeps the versions it was computed at, and
a lookup finds it only while they are still current (checked inside Redis, in
the lookup's one round trip). A miss reads the versions *before* it queries the
database and stores its answer only if they are unchanged (compare and set in
one script): a write committed while an answer was being computed can never let
the older answer in, whatever the interleaving.

Single flight: the first miss of a key takes a short lock and computes; other
misses of that key wait for its entry instead of repeating the query. Tag
versions have no TTL and entries always have one, so under the documented
``maxmemory-policy volatile-lru`` Redis evicts entries, never versions.

Redis away: a lookup is a miss, a store does nothing, the caller serves from
PostgreSQL. The outage is logged once (and once when it ends), each failed call
is counted (``kirby_cache_errors_total``), and Redis is left alone for
``RETRY_SECONDS`` after a failure so a hanging server does not slow every read.
Invalidations lost in an outage cannot be replayed (which tags?), so every entry
also depends on ``EPOCH_TAG``, which a process that saw its Redis calls fail
increments when they succeed again: an entry older than an outage is never served.
"""

import functools
import hashlib
import logging
import threading
import time
import uuid
from dataclasses import dataclass

import redis
from django.conf import settings

from lib.metrics import CACHE_ERRORS, CACHE_HITS, CACHE_MISSES, CACHE_REFRESHES

log = logging.getLogger(__name__)

PREFIX = "kirby:cache:"
STATS_KEY = PREFIX + "stats"  # cluster-wide hits, misses, refreshes, errors, for the status document
EPOCH_TAG = "epoch"
RETRY_SECONDS = 1.0
LOCK_SECONDS = 10  # a leader that died leaves its lock this long at most
WAIT_STEP = 0.002
_NAME = "responses"
_hits, _misses = CACHE_HITS.labels(_NAME), CACHE_MISSES.labels(_NAME)
_refreshes, _errors = CACHE_REFRESHES.labels(_NAME), CACHE_ERRORS.labels(_NAME)

# KEYS: entry, stats. ARGV: tag prefix. Returns {body, etag} or nil; counts the hit.
_LOOKUP = """
local e = redis.call('HMGET', KEYS[1], 'b', 'e', 't', 'v', 'f')
if not e[1] then return nil end
if e[3] ~= '' then
  local keys = {}
  for tag in string.gmatch(e[3], '%S+') do keys[#keys + 1] = ARGV[1] .. tag end
  local current = redis.call('MGET', unpack(keys))
  for i, v in ipairs(current) do current[i] = v or '0' end
  if table.concat(current, ' ') ~= e[4] then return nil end
end
redis.call('HINCRBY', KEYS[2], 'hits', 1)
return {e[1], e[2], e[5]}
"""
# KEYS: entry, lock, stats. ARGV: tag prefix, tags, versions read before computing, body, etag, ttl, lock token, final.
_STORE = """
redis.call('HINCRBY', KEYS[3], 'misses', 1)
local stored = 0
local keys = {}
for tag in string.gmatch(ARGV[2], '%S+') do keys[#keys + 1] = ARGV[1] .. tag end
local current = ''
if #keys > 0 then
  local values = redis.call('MGET', unpack(keys))
  for i, v in ipairs(values) do values[i] = v or '0' end
  current = table.concat(values, ' ')
end
if current == ARGV[3] then
  redis.call('HSET', KEYS[1], 'b', ARGV[4], 'e', ARGV[5], 't', ARGV[2], 'v', ARGV[3], 'f', ARGV[8])
  redis.call('EXPIRE', KEYS[1], tonumber(ARGV[6]))
  stored = 1
end
if redis.call('GET', KEYS[2]) == ARGV[7] then redis.call('DEL', KEYS[2]) end
return stored
"""


@dataclass(frozen=True)
class Answer:
    body: bytes
    etag: str  # quoted, as in the ETag header
    final: bool  # can never change again (the view said so when it rendered it)
    cached: bool  # served from Redis


def etag_of(body):
    return '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'


class _Outage:
    """Redis reachability as this process last saw it: one log line per outage, a pause after each failure."""

    def __init__(self):
        self.down_since = None
        self.retry_at = 0.0
        self.unreported = 0  # failures not yet added to the shared stats
        self.lock = threading.Lock()

    def skip(self):
        return self.down_since is not None and time.monotonic() < self.retry_at

    def failed(self, error):
        _errors.inc()
        with self.lock:
            self.unreported += 1
            self.retry_at = time.monotonic() + RETRY_SECONDS
            if self.down_since is None:
                self.down_since = time.monotonic()
                log.warning("response cache unavailable, reads go to PostgreSQL: %s", error)

    def succeeded(self, client):
        if self.down_since is None:
            return
        with self.lock:
            if self.down_since is None:
                return
            seconds, self.down_since = time.monotonic() - self.down_since, None
            errors, self.unreported = self.unreported, 0
        log.warning("response cache available again after %.1f s (%d failed calls)", seconds, errors)
        try:
            client.pipeline(transaction=False).incr(PREFIX + "t:" + EPOCH_TAG).hincrby(
                STATS_KEY, "errors", errors
            ).execute()
        except redis.RedisError:
            self.failed("epoch not advanced")


_outage = _Outage()


@functools.cache
def _client():
    return redis.Redis.from_url(settings.KIRBY_CACHE_URL, socket_timeout=0.5, socket_connect_timeout=0.5)


@functools.cache
def _scripts():
    client = _client()
    return client.register_script(_LOOKUP), client.register_script(_STORE)


def enabled():
    return settings.KIRBY_CACHE_ENABLED


def _call(operation):
    """``operation(client)``, or None when Redis is away (counted, logged once per outage)."""
    if _outage.skip():
        _errors.inc()
        return None
    client = _client()
    try:
        result = operation(client)
    except redis.RedisError as error:
        _outage.failed(error)
        return None
    _outage.succeeded(client)
    return result


def lookup(key):
    """The cached Answer of ``key`` if its entry is current, else None."""
    found = _call(lambda client: _scripts()[0](keys=[PREFIX + "e:" + key, STATS_KEY], args=[PREFIX + "t:"]))
    if found is None:
        return None
    _hits.inc()
    body, etag, final = found
    return Answer(bytes(body), etag.decode(), final == b"1", True)


def answer(key, compute):
    """The Answer for ``key``: from Redis, or computed once for all concurrent misses and stored.

    ``compute()`` returns ``(tags, render)``: the tags the answer depends on
    (cheap to find, e.g. from a name lookup) and ``render()``, which queries the
    database and returns ``(body, final)``. Exceptions from either go to the caller.
    """
    if not enabled():
        return computed(compute)
    token = uuid.uuid4().hex
    deadline = time.monotonic() + LOCK_SECONDS
    while True:
        found = lookup(key)
        if found is not None:
            return found
        leader = _call(lambda client: client.set(PREFIX + "l:" + key, token, nx=True, ex=LOCK_SECONDS))
        if leader:
            # The previous leader may have stored the entry and let go between our lookup and our lock.
            found = lookup(key)
            if found is not None:
                _call(lambda client: _release(client, PREFIX + "l:" + key, token))
                return found
        if leader or _outage.down_since is not None or time.monotonic() > deadline:
            return _compute_and_store(key, compute, token)
        time.sleep(WAIT_STEP)  # another process computes this entry; it appears or the lock goes


def _compute_and_store(key, compute, token):
    _misses.inc()
    lock = PREFIX + "l:" + key
    try:
        tags, render = compute()
        tags = " ".join([EPOCH_TAG, *tags])
        versions = _call(lambda client: _versions(client, tags))
        body, final = render()
    except BaseException:
        _call(lambda client: _release(client, lock, token))
        raise
    etag = etag_of(body)
    if versions is None:
        _call(lambda client: _release(client, lock, token))
    else:
        args = [PREFIX + "t:", tags, versions, body, etag, settings.KIRBY_CACHE_TTL_SECONDS, token, int(final)]
        _call(lambda client: _scripts()[1](keys=[PREFIX + "e:" + key, lock, STATS_KEY], args=args))
    return Answer(body, etag, final, False)


def computed(compute):
    """The Answer of ``compute`` (as for ``answer``) without the cache: for reads not worth keeping."""
    _tags, render = compute()
    body, final = render()
    return Answer(body, etag_of(body), final, False)


def _versions(client, tags):
    values = client.mget([PREFIX + "t:" + tag for tag in tags.split()])
    return " ".join((value or b"0").decode() for value in values)


def _release(client, lock, token):
    if client.get(lock) == token.encode():
        client.delete(lock)


def invalidate(tags):
    """Make every entry depending on any of ``tags`` stale at once (after the change is committed)."""
    tags = list(tags)
    if not tags or not enabled():
        return
    _refreshes.inc(len(tags))

    def bump(client):
        pipe = client.pipeline(transaction=False)
        for tag in tags:
            pipe.incr(PREFIX + "t:" + tag)
        pipe.hincrby(STATS_KEY, "refreshes", len(tags))
        pipe.execute()

    _call(bump)


def stats():
    """Cluster-wide counts and the cache's memory, for the status document (raises when Redis is away)."""
    client = _client()
    counts = {name.decode(): int(value) for name, value in client.hgetall(STATS_KEY).items()}
    memory = client.info("memory")
    return {
        "enabled": enabled(),
        "hits": counts.get("hits", 0),
        "misses": counts.get("misses", 0),
        "refreshes": counts.get("refreshes", 0),
        "errors": counts.get("errors", 0) + _outage.unreported,
        "used_memory_bytes": memory.get("used_memory"),
        "maxmemory_bytes": memory.get("maxmemory"),
        "maxmemory_policy": memory.get("maxmemory_policy"),
    }
