"""Checking a presented key, fast: the verdict of each key is kept in process for a few seconds.

A web process reads a key's row (and hashes the key) at most once per
``KIRBY_API_KEY_CACHE_SECONDS``, so an authenticated request costs no
database round trip and no hash once the key is known. Changes made through
Kirby (revoke, rotate, admin edits) are forgotten at once in the process
that made them and within that many seconds everywhere else. Expiry is
judged on every request from the cached row.
"""

import hashlib
import hmac
import threading
import time
from typing import NamedTuple

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.access.models import ADMIN, READ, V1_KEY, ApiKey, prefix_of

KEY_REQUIRED = (401, "API key required. Provide via Authorization: Bearer <key>")
INVALID = (401, "Invalid API key")
INACTIVE = (401, "API key is inactive")
EXPIRED = (401, "API key has expired")
OWNER_INACTIVE = (403, "User account is inactive")
ADMIN_REQUIRED = (403, "Admin privileges required")
READ_REQUIRED = (403, "Read privileges required")

_CACHE_LIMIT = 10_000


class KeyInfo(NamedTuple):
    """What a request needs to know about its key, without the secret."""

    id: int
    name: str
    owner_id: int
    owner_active: bool
    scopes: frozenset
    active: bool
    revoked: bool
    expires_at: object  # datetime | None
    rate_limit: int | None
    unlimited: bool

    @classmethod
    def of(cls, key):
        return cls(
            key.id,
            key.name,
            key.owner_id,
            key.owner.is_active,
            frozenset(key.scopes),
            key.active,
            key.revoked,
            key.expiry_date,
            key.rate_limit,
            key.unlimited,
        )

    @property
    def is_admin(self):
        return ADMIN in self.scopes

    @property
    def exempt_from_limits(self):
        return self.unlimited or self.is_admin


def refusal(info, *, scope=READ, presented=True, now=None):
    """``(status, message)`` when a request with this key may not proceed, else None.

    The checks run in API.md's order: missing, unknown, inactive (revoked
    keys too), expired, inactive owner, scope.
    """
    if not presented:
        return KEY_REQUIRED
    if info is None:
        return INVALID
    if info.revoked or not info.active:
        return INACTIVE
    if info.expires_at is not None and info.expires_at <= (now or timezone.now()):
        return EXPIRED
    if not info.owner_active:
        return OWNER_INACTIVE
    if scope == ADMIN and not info.is_admin:
        return ADMIN_REQUIRED
    if scope == READ and not (info.scopes & {READ, ADMIN}):
        return READ_REQUIRED
    return None


_verdicts = {}  # sha256(key) -> (monotonic deadline, KeyInfo | None)
_ids = {}  # key id -> sha256(key), to forget a changed key
_lock = threading.Lock()


def lookup(key, *, fresh=False):
    """The KeyInfo of ``key``, or None when no such key exists (a wrong secret is no key)."""
    digest = hashlib.sha256(key.encode()).digest()
    if not fresh:
        cached = _verdicts.get(digest)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
    info = _read(key)
    ttl = settings.KIRBY_API_KEY_CACHE_SECONDS
    if ttl > 0:
        with _lock:
            if len(_verdicts) >= _CACHE_LIMIT:
                _verdicts.clear()
                _ids.clear()
            _verdicts[digest] = (time.monotonic() + ttl, info)
            if info is not None:
                _ids[info.id] = digest
    return info


def _read(key):
    if V1_KEY.fullmatch(key):
        # 1.x kept only sha256(key): the row is found by that hash, and compared again in constant time.
        digest = hashlib.sha256(key.encode()).hexdigest()
        row = ApiKey.objects.select_related("owner").filter(v1_key_hash=digest).first()
        if row is None or not hmac.compare_digest(row.v1_key_hash, digest):
            return None
        return KeyInfo.of(row)
    prefix = prefix_of(key)
    if prefix is None:
        return None
    row = ApiKey.objects.select_related("owner").filter(prefix=prefix).first()
    if row is None or not ApiKey.objects.key_generator.verify(key, row.hashed_key):
        return None
    return KeyInfo.of(row)


def forget(key_id):
    """Drop a key's cached verdict in this process (it was changed here)."""
    with _lock:
        digest = _ids.pop(key_id, None)
        if digest is not None:
            _verdicts.pop(digest, None)


def forget_all():
    with _lock:
        _verdicts.clear()
        _ids.clear()


def issue(owner, name, *, scopes=(READ,), rate_limit=None, expires_at=None, unlimited=False):
    """A new key: ``(ApiKey, secret)``. The secret exists only in the return value."""
    return ApiKey.objects.create_key(
        owner=owner,
        name=name,
        scopes=list(scopes),
        rate_limit=rate_limit,
        expiry_date=expires_at,
        unlimited=unlimited,
    )


def rotate(old):
    """A new secret with the same owner, name, scopes and limits; the old key is revoked."""
    with transaction.atomic():
        new, secret = issue(
            old.owner,
            old.name,
            scopes=old.scopes,
            rate_limit=old.rate_limit,
            expires_at=old.expiry_date,
            unlimited=old.unlimited,
        )
        old.replaced_by = new
        old.save(update_fields=["replaced_by"])
        old.revoke()
    return new, secret
