"""The response cache: rendered bodies of hot reads in Redis (``KIRBY_CACHE_URL``), never staler than the database.

Every entry depends on *tags* (one series, the reference data). Invalidating a
tag increments its version; an entry keeps the versions it was computed at, and
a lookup finds it only while they are still current (the entry and the current
versions come in one pipelined round trip). A miss reads the versions *before* it queries the
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

# An entry is one string: a header line "<tags>|<versions>|<etag>|<final>" and the body. A lookup is
# one round trip (GET, plus MGET of the tags this process last saw on the entry, pipelined) and no
# script: copying a body of 150 KB into Lua and back cost more than the rest of the lookup.
# KEYS: entry, lock, stats. ARGV: tag prefix, tags, versions read before computing, entry, ttl, lock token.
_STORE = """
redis.call('HINCRBY', KEYS[3], 'misses', 1)
local stored = 0
local keys = {}
for tag in string.gmatch(ARGV[2], '%S+') do keys[#keys + 1] = ARGV[1] .. tag end
local values = redis.call('MGET', unpack(keys))
for i, v in ipairs(values) do values[i] = v or '0' end
if table.concat(values, ' ') == ARGV[3] then
  redis.call('SET', KEYS[1], ARGV[4], 'EX', tonumber(ARGV[5]))
  stored = 1
end
if redis.call('GET', KEYS[2]) == ARGV[6] then redis.call('DEL', KEYS[2]) end
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
def _store_script():
    return _client().register_script(_STORE)


# The tags of each entry as this process last read them, so the versions come with the entry.
_known_tags = {}
_KNOWN_TAGS_LIMIT = 100_000
# Hits are added to the shared stats in batches, riding along a lookup at most once a second.
_unshared = {"hits": 0, "at": 0.0}


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
    tags = _known_tags.get(key)
    now = time.monotonic()
    share = _unshared["hits"] if now - _unshared["at"] >= 1.0 else 0

    def read(client):
        pipe = client.pipeline(transaction=False)
        pipe.get(PREFIX + "e:" + key)
        if tags:
            pipe.mget([PREFIX + "t:" + tag for tag in tags.split()])
        if share:
            pipe.hincrby(STATS_KEY, "hits", share)
        return pipe.execute()

    result = _call(read)
    if share and result is not None:
        _unshared["hits"] -= share
        _unshared["at"] = now
    if not result or result[0] is None:
        return None
    header, _, body = result[0].partition(b"\n")
    try:
        entry_tags, versions, etag, final = header.decode().split("|")
    except ValueError:  # not an entry this code wrote: recomputed and overwritten
        return None
    if entry_tags == tags:
        current = result[1]
    else:  # first sight of this entry here, or its series now has another id: one more round trip
        current = _call(lambda client: client.mget([PREFIX + "t:" + tag for tag in entry_tags.split()]))
        if current is None:
            return None
        if len(_known_tags) >= _KNOWN_TAGS_LIMIT:
            _known_tags.clear()
        _known_tags[key] = entry_tags
    if " ".join((value or b"0").decode() for value in current) != versions:
        return None
    _hits.inc()
    _unshared["hits"] += 1
    return Answer(body, etag, final == "1", True)


def answer(key, compute, tags=()):
    """The Answer for ``key``: from Redis, or computed once for all concurrent misses and stored.

    ``tags``: what the answer depends on that is known before computing (the reference data).
    ``compute(fresh)`` returns ``(more_tags, render)``: the tags it found (a series id, from a
    lookup that must read the database when ``fresh``) and ``render()``, which queries the
    database and returns ``(body, final)``. Versions are read before what they cover is read:
    ``tags`` before ``compute``, ``more_tags`` before ``render``. Exceptions go to the caller.
    """
    if not enabled():
        return computed(compute)
    token = uuid.uuid4().hex
    deadline = time.monotonic() + LOCK_SECONDS
    wait = WAIT_STEP
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
            return _compute_and_store(key, compute, tags, token)
        time.sleep(wait)  # another process computes this entry; it appears or the lock goes
        wait = min(wait * 1.5, 0.05)


def _compute_and_store(key, compute, tags, token):
    _misses.inc()
    lock = PREFIX + "l:" + key
    tags = [EPOCH_TAG, *tags]
    try:
        versions = _call(lambda client: _versions(client, tags))
        more_tags, render = compute(True)
        more_versions = _call(lambda client: _versions(client, more_tags)) if more_tags else []
        body, final = render()
    except BaseException:
        _call(lambda client: _release(client, lock, token))
        raise
    etag = etag_of(body)
    if versions is None or more_versions is None:
        _call(lambda client: _release(client, lock, token))
    else:
        tags, versions = " ".join([*tags, *more_tags]), " ".join([*versions, *more_versions])
        entry = f"{tags}|{versions}|{etag}|{int(final)}\n".encode() + body
        args = [PREFIX + "t:", tags, versions, entry, settings.KIRBY_CACHE_TTL_SECONDS, token]
        _call(lambda client: _store_script()(keys=[PREFIX + "e:" + key, lock, STATS_KEY], args=args))
    return Answer(body, etag, final, False)


def computed(compute):
    """The Answer of ``compute`` (as for ``answer``) without the cache: for reads not worth keeping."""
    _tags, render = compute(False)
    body, final = render()
    return Answer(body, etag_of(body), final, False)


def _versions(client, tags):
    return [(value or b"0").decode() for value in client.mget([PREFIX + "t:" + tag for tag in tags])]


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
        "hits": counts.get("hits", 0) + _unshared["hits"],
        "misses": counts.get("misses", 0),
        "refreshes": counts.get("refreshes", 0),
        "errors": counts.get("errors", 0) + _outage.unreported,
        "used_memory_bytes": memory.get("used_memory"),
        "maxmemory_bytes": memory.get("maxmemory"),
        "maxmemory_policy": memory.get("maxmemory_policy"),
    }
