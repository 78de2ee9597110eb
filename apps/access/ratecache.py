"""A Redis cache for request counters: one round trip per counted request.

django-ratelimit counts with ``cache.add(key, 1, window)`` and, when the
key exists, ``cache.incr(key)``. With Django's Redis cache that is three
round trips (SET NX, EXISTS, INCRBY) and a new ``redis.Redis`` object per
operation; on a busy 2-core server each round trip is a context switch
worth a noticeable share of a request. This client:

- keeps one ``redis.Redis`` per connection pool (it is thread-safe);
- increments in one round trip that also returns the key's remaining life,
  still refusing a missing key as Django's contract says (so a counter is
  never recreated without its expiry);
- remembers until when each counter it has created or incremented exists,
  and answers ``add`` for such a counter (False: it exists) without asking
  Redis. Counters are only ever created by ``add`` with their window's
  expiry and never deleted, so the answer is what Redis would give. If Redis
  lost them anyway (flushed), ``incr`` finds the key missing, the memory is
  dropped and the next window starts cleanly.

It is used only for the rate-limit cache alias (``RATELIMIT_USE_CACHE``).
"""

import time

from django.core.cache.backends.redis import RedisCache, RedisCacheClient

_INCR_EXISTING = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  return {redis.call('INCRBY', KEYS[1], ARGV[1]), redis.call('PTTL', KEYS[1])}
end
"""
_MEMORY_LIMIT = 50_000


class CounterRedisCacheClient(RedisCacheClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients = {}
        self._incr_existing = None
        self._exists_until = {}  # key -> time.monotonic() until which the key surely exists

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)
        return client

    def _remember(self, key, seconds):
        if len(self._exists_until) >= _MEMORY_LIMIT:
            now = time.monotonic()
            self._exists_until = {k: until for k, until in self._exists_until.items() if until > now}
        # A margin for the clock between this process and Redis.
        self._exists_until[key] = time.monotonic() + seconds - 0.5

    def add(self, key, value, timeout):
        if self._exists_until.get(key, 0.0) > time.monotonic():
            return False
        added = super().add(key, value, timeout)
        if added and timeout:
            self._remember(key, timeout)
        return added

    def incr(self, key, delta):
        client = self.get_client(key, write=True)
        if self._incr_existing is None:
            self._incr_existing = client.register_script(_INCR_EXISTING)
        found = self._incr_existing(keys=[key], args=[delta], client=client)
        if found is None:
            self._exists_until.pop(key, None)
            raise ValueError(f"Key '{key}' not found.")
        value, remaining_ms = found
        if remaining_ms > 0:
            self._remember(key, remaining_ms / 1000)
        return value

    def delete(self, key):
        self._exists_until.pop(key, None)
        return super().delete(key)

    def clear(self):
        self._exists_until.clear()
        return super().clear()


class CounterRedisCache(RedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = CounterRedisCacheClient
