"""Access's one entry for a WebSocket connection (/ws; API.md "Authentication", "Rate limits").

The stream calls three things and knows nothing of keys, slots or usage:

- ``authenticate(scope)`` once per connection: a ``Grant`` (the key and its
  connection slot) or a ``Refusal`` (close code and API.md's words: 4001
  auth, 4003 forbidden, 4029 too many connections, or too many attempts
  without a usable key from one address: they count against
  ``KIRBY_RATE_LIMIT_ANON_PER_MINUTE`` like REST requests). The attempt is
  recorded in the key's usage either way.
- ``watch(grant)`` for as long as the connection is open: re-reads the key
  every ``KIRBY_WS_KEY_RECHECK_SECONDS`` (renewing its slot) and returns the
  ``Refusal`` once the key is revoked, deactivated or expired meanwhile.
- ``charge(grant, cost)`` before history is read: ``cost`` requests of the
  key's request budget, the one REST uses (a series of history costs what
  one REST request for it does); returns the refusal's message when over.
- ``release(grant)`` at the end: the slot goes back at once.

The key arrives as ``/ws?api_key=<key>`` (Kirby 1.x) or in the
Authorization header. It never reaches a log: Daphne's access log prints
the path without the query string.
"""

import asyncio
import logging
import random
from datetime import UTC, datetime
from typing import NamedTuple
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from django.conf import settings
from django.db import close_old_connections

from apps.access import keys, limits, usage
from apps.access.policy import client_address
from lib.metrics import RATE_LIMITED

log = logging.getLogger(__name__)

UNAUTHORIZED = 4001
FORBIDDEN = 4003
TOO_MANY_CONNECTIONS = 4029


class Refusal(NamedTuple):
    """Why a connection may not stay open: the WebSocket close code and its reason."""

    code: int
    reason: str


class Grant:
    """A connection's key and connection slot for as long as it stays open (no key: access is off)."""

    def __init__(self, key=None, info=None, slot=None):
        self.key = key
        self.info = info
        self.slot = slot

    @property
    def checked(self):
        """Whether the key is re-read while the connection is open."""
        return self.key is not None


class _Refused(Exception):
    def __init__(self, refusal):
        super().__init__(refusal.reason)
        self.refusal = refusal


def _lookup(key, fresh=False):
    try:
        return keys.lookup(key, fresh=fresh)
    finally:
        close_old_connections()


_lookup_async = database_sync_to_async(_lookup, thread_sensitive=False)


async def authenticate(scope):
    """A ``Grant`` for the connection of ``scope``, or the ``Refusal`` to close it with."""
    if not settings.KIRBY_AUTH_REQUIRED:
        return Grant()
    key = api_key(scope)
    info = await _lookup_async(key) if key else None
    try:
        try:
            _refuse_if_bad(info, presented=key is not None)
        except _Refused:
            await _count_failed_attempt(scope)  # over the per-IP limit: refused as such instead
            raise
        slot = None if not settings.KIRBY_RATE_LIMIT_ENABLED else await _take_slot(info)
    except _Refused as refused:
        _record(scope, info, refused.refusal.code)
        return refused.refusal
    _record(scope, info, 101)
    return Grant(key, info, slot)


async def watch(grant):
    """Return the ``Refusal`` once the grant's key is no longer good; never returns for a grant without a key.

    A database or Redis outage does not close connections: the check is
    logged and tried again at the next period.
    """
    if not grant.checked:
        await asyncio.Event().wait()
    while True:
        # Connections opened together (a reconnecting fleet, a restart) would otherwise re-check all at
        # once, every period; a shorter random wait spreads them and still re-checks within the period.
        await asyncio.sleep(settings.KIRBY_WS_KEY_RECHECK_SECONDS * random.uniform(0.8, 1.0))
        try:
            await _recheck(grant)
        except _Refused as refused:
            return refused.refusal
        except Exception as error:
            log.warning("could not re-check the key of a WebSocket connection: %s", error)


async def release(grant):
    """Give the grant's connection slot back (idempotent)."""
    if grant.slot is not None:
        slot, grant.slot = grant.slot, None
        await asyncio.to_thread(limits.release_slot, slot)


async def charge(grant, cost):
    """None, or why ``cost`` requests are over the key's budget (they are counted either way, as REST's are)."""
    info = grant.info
    if info is None or not settings.KIRBY_RATE_LIMIT_ENABLED or info.exempt_from_limits:
        return None  # access off (REST is not limited either), or a key exempt from request limits
    limit = info.rate_limit or settings.KIRBY_RATE_LIMIT_PER_MINUTE
    quota = await asyncio.to_thread(limits.count_request, f"key:{info.id}", limit, cost)
    if quota is None or not quota.exceeded:
        return None
    RATE_LIMITED.labels("key").inc()
    return (
        f"Rate limit exceeded: this history costs {cost} requests of the key's {limit} per minute;"
        f" retry in {quota.retry_after} s"
    )


async def _recheck(grant):
    info, renewed = await _checked_with_others(grant)
    grant.info = info
    _refuse_if_bad(info, presented=True)
    if grant.slot is not None and not renewed:
        grant.slot = await _take_slot(info)  # the lease ran out (a long pause): take a slot again if one is free


# Re-checks that fall due within this long of each other in one process are done together: one read per
# key and one Redis round trip for all their slots, in one thread hop. At 10,000 connections a process
# otherwise made hundreds of database reads, Redis calls and thread hops a second for its re-checks,
# and the deliveries waited behind them.
BATCH_SECONDS = 0.25

_batches = {}  # event loop -> the re-checks waiting for its next batch: [(grant, future)]


async def _checked_with_others(grant):
    """The grant's key read afresh and whether its slot was renewed, done in the process's next batch."""
    loop = asyncio.get_running_loop()
    waiting = _batches.get(loop)
    if waiting is None:
        waiting = _batches[loop] = []
        loop.call_later(BATCH_SECONDS, lambda: loop.create_task(_run_batch(loop)))
    future = loop.create_future()
    waiting.append((grant, future))
    return await future


async def _run_batch(loop):
    waiting = _batches.pop(loop, [])
    try:
        infos, renewed = await asyncio.to_thread(
            _check_together, [grant.key for grant, _ in waiting], [grant.slot for grant, _ in waiting]
        )
    except Exception as error:
        for _, future in waiting:
            if not future.done():
                future.set_exception(error)
        return
    for (grant, future), fresh in zip(waiting, renewed, strict=True):
        if not future.done():  # its connection may have closed meanwhile
            future.set_result((infos[grant.key], fresh))


def _check_together(keys_to_read, slots):
    infos = {key: _lookup(key, fresh=True) for key in dict.fromkeys(keys_to_read)}
    return infos, limits.renew_slots(slots)


def _refuse_if_bad(info, presented):
    problem = keys.refusal(info, presented=presented)
    if problem is not None:
        status, message = problem
        raise _Refused(Refusal(UNAUTHORIZED if status == 401 else FORBIDDEN, message))


async def _take_slot(info):
    # Admin and unlimited keys skip the request limits, not a connection cap: a runaway script with
    # such a key would otherwise open connections until the server falls over.
    if info.exempt_from_limits:
        limit = settings.KIRBY_WS_MAX_CONNECTIONS_PER_UNLIMITED_KEY
    else:
        limit = settings.KIRBY_WS_MAX_CONNECTIONS_PER_KEY
    slot = await asyncio.to_thread(limits.acquire_slot, info.id, limit)
    if slot is None:
        RATE_LIMITED.labels("ws").inc()
        raise _Refused(Refusal(TOO_MANY_CONNECTIONS, f"Too many connections: at most {limit} per API key"))
    return slot


async def _count_failed_attempt(scope):
    """A connection without a usable key counts against its address's anonymous limit, as a REST request does."""
    if not settings.KIRBY_RATE_LIMIT_ENABLED:
        return
    address, _ = _address_and_agent(scope)
    quota = await asyncio.to_thread(limits.count_request, f"ip:{address}", settings.KIRBY_RATE_LIMIT_ANON_PER_MINUTE)
    if quota is not None and quota.exceeded:
        RATE_LIMITED.labels("ip").inc()
        raise _Refused(Refusal(TOO_MANY_CONNECTIONS, "Rate limit exceeded"))


def _address_and_agent(scope):
    headers = {name.decode("latin-1").upper().replace("-", "_"): value for name, value in scope.get("headers", ())}

    def header(name):
        return headers.get(name, b"").decode("latin-1")

    return client_address((scope.get("client") or (None,))[0], header), header("USER_AGENT")


def _record(scope, info, status):
    if info is None:
        return
    address, agent = _address_and_agent(scope)
    usage.record(usage.Use(info.id, datetime.now(UTC), "WS", scope.get("path", "/ws"), status, 0.0, address, agent))


def api_key(scope):
    """The key from ``?api_key=`` or ``Authorization: Bearer``, or None."""
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    if query.get("api_key"):
        return query["api_key"][0]
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            scheme, _, credentials = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and credentials.strip():
                return credentials.strip()
    return None
