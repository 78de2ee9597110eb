"""A request budget per exchange, shared by every worker: a token bucket in Redis.

Tokens are the exchange's request weight (Hyperliquid: 1200 per minute per
IP; Kirby spends a configurable share). ``take(weight)`` blocks until the
weight is available; ``spend(weight)`` charges weight learned after the
answer (Hyperliquid adds weight for large answers). A 429 halves the refill
rate and pauses everyone for a while; the rate doubles back after every
``recovery`` seconds without another 429. State and arithmetic live in one
Lua script, run atomically by Redis on Redis's own clock, so workers on
several machines share one budget.
"""

import time

from django.conf import settings

from lib.redis import client

_SCRIPT = """
local key = KEYS[1]
local op, capacity, rate, amount = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local pause_ms, recovery_ms, min_factor = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local s = redis.call('HMGET', key, 'tokens', 'ts', 'factor', 'slowed_at', 'paused_until', 'limited')
local tokens, ts = tonumber(s[1]) or capacity, tonumber(s[2]) or now
local factor, slowed_at = tonumber(s[3]) or 1, tonumber(s[4]) or now
local paused_until, limited = tonumber(s[5]) or 0, tonumber(s[6]) or 0
if factor < 1 and now - slowed_at >= recovery_ms then
  local steps = math.floor((now - slowed_at) / recovery_ms)
  factor = math.min(1, factor * 2 ^ steps)
  slowed_at = slowed_at + steps * recovery_ms
end
local per_ms = rate * factor / 60000
tokens = math.min(capacity, tokens + math.max(0, now - ts) * per_ms)
local wait = 0
if op == 'take' then
  if now < paused_until then
    wait = paused_until - now
  elseif tokens >= amount then
    tokens = tokens - amount
  else
    wait = math.ceil((amount - tokens) / per_ms)
  end
elseif op == 'spend' then
  tokens = tokens - amount
elseif op == 'limited' then
  factor = math.max(min_factor, factor / 2)
  slowed_at = now
  tokens = 0
  paused_until = now + math.max(pause_ms, amount)
  limited = limited + 1
end
redis.call('HSET', key, 'tokens', tokens, 'ts', now, 'factor', factor, 'slowed_at', slowed_at,
           'paused_until', paused_until, 'limited', limited)
redis.call('PEXPIRE', key, 86400000)
return {wait, tostring(factor), tostring(tokens), limited}
"""

MIN_FACTOR = 1 / 64


class Budget:
    def __init__(self, exchange, *, on_wait=None):
        self.exchange = exchange
        self.on_wait = on_wait  # called while waiting (a job renews its lease there)
        self.key = f"kirby:budget:{exchange}"
        self.rate = settings.KIRBY_REST_WEIGHT_PER_MINUTE.get(exchange, 600)
        # A burst of KIRBY_REST_BURST_SECONDS' worth, never less than one request.
        self.capacity = max(20.0, self.rate / 60 * settings.KIRBY_REST_BURST_SECONDS)

    def _call(self, op, amount=0.0):
        pause_ms = settings.KIRBY_REST_429_PAUSE_SECONDS * 1000
        recovery_ms = settings.KIRBY_REST_RECOVERY_SECONDS * 1000
        wait, factor, tokens, limited = client().eval(
            _SCRIPT, 1, self.key, op, self.capacity, self.rate, amount, pause_ms, recovery_ms, MIN_FACTOR
        )
        return int(wait), float(factor), float(tokens), int(limited)

    def take(self, weight, *, should_stop=None):
        """Block until ``weight`` is granted; ``should_stop()`` true ends the wait early (returns False)."""
        weight = min(weight, self.capacity)
        while True:
            wait_ms = self._call("take", weight)[0]
            if wait_ms <= 0:
                return True
            if should_stop is not None and should_stop():
                return False
            if self.on_wait is not None:
                self.on_wait()
            time.sleep(min(wait_ms / 1000, 1.0))

    def spend(self, weight):
        if weight > 0:
            self._call("spend", weight)

    def rate_limited(self, retry_after=None):
        """The exchange said 429: slow everyone down (``retry_after`` seconds at least, when it said)."""
        self._call("limited", (retry_after or 0) * 1000)

    def state(self):
        """{"factor": share of the configured rate in force, "tokens", "rate_limited": 429s seen}."""
        _, factor, tokens, limited = self._call("peek")
        return {"factor": factor, "tokens": round(tokens, 3), "rate_limited": limited, "rate_per_minute": self.rate}
