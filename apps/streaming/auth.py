"""Who may open /ws (API.md "Authentication", "Rate limits").

``authenticate(scope)`` runs once per connection, after the handshake is
accepted: a WebSocket refused during the handshake only learns "403", so
a refused client is accepted and closed at once with the code and reason
(4001 auth, 4003 forbidden, 4029 too many connections). It returns an
``Admission`` (None when auth is off) that holds the key's connection slot,
re-reads the key every ``KIRBY_WS_KEY_RECHECK_SECONDS`` (a key revoked
meanwhile closes the connection) and gives the slot back at the end.

The key arrives as ``/ws?api_key=<key>`` (Kirby 1.x) or in the
Authorization header; ``api_key(scope)`` finds it. It never reaches a log:
Daphne's access log prints the path without the query string.
"""

import asyncio
from datetime import UTC, datetime
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from django.conf import settings
from django.db import close_old_connections

from apps.access import keys, limits, usage
from apps.access.policy import client_address
from lib.metrics import RATE_LIMITED

UNAUTHORIZED = 4001
FORBIDDEN = 4003
TOO_MANY_CONNECTIONS = 4029


class Rejected(Exception):
    def __init__(self, code, reason):
        super().__init__(reason)
        self.code = code
        self.reason = reason


def _lookup(key, fresh=False):
    try:
        return keys.lookup(key, fresh=fresh)
    finally:
        close_old_connections()


_lookup_async = database_sync_to_async(_lookup, thread_sensitive=False)


class Admission:
    """A connection's key and slot for as long as it stays open."""

    def __init__(self, key, info, slot):
        self.key = key
        self.info = info
        self.slot = slot

    async def recheck(self):
        """Raise Rejected when the key is no longer good or its slot is lost to others."""
        self.info = await _lookup_async(self.key, fresh=True)
        _refuse_if_bad(self.info, presented=True)
        if self.slot is not None and not await asyncio.to_thread(limits.renew_slot, self.slot):
            self.slot = await _take_slot(self.info)

    async def release(self):
        if self.slot is not None:
            slot, self.slot = self.slot, None
            await asyncio.to_thread(limits.release_slot, slot)


def _refuse_if_bad(info, presented):
    problem = keys.refusal(info, presented=presented)
    if problem is not None:
        status, message = problem
        raise Rejected(UNAUTHORIZED if status == 401 else FORBIDDEN, message)


async def _take_slot(info):
    if info.exempt_from_limits:
        return None
    limit = settings.KIRBY_WS_MAX_CONNECTIONS_PER_KEY
    slot = await asyncio.to_thread(limits.acquire_slot, info.id, limit)
    if slot is None:
        RATE_LIMITED.labels("ws").inc()
        raise Rejected(TOO_MANY_CONNECTIONS, f"Too many connections: at most {limit} per API key")
    return slot


async def authenticate(scope):
    if not settings.KIRBY_AUTH_REQUIRED:
        return None
    key = api_key(scope)
    info = await _lookup_async(key) if key else None
    try:
        _refuse_if_bad(info, presented=key is not None)
        slot = None if not settings.KIRBY_RATE_LIMIT_ENABLED else await _take_slot(info)
    except Rejected as rejected:
        _record(scope, info, rejected.code)
        raise
    _record(scope, info, 101)
    return Admission(key, info, slot)


def _record(scope, info, status):
    if info is None:
        return
    headers = {name.decode("latin-1").upper().replace("-", "_"): value for name, value in scope.get("headers", ())}

    def header(name):
        return headers.get(name, b"").decode("latin-1")

    address = client_address((scope.get("client") or (None,))[0], header)
    agent = header("USER_AGENT")
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
