"""API keys and their usage.

A key is ``kb_<prefix>.<secret>``: the 8-character prefix finds the row, the
whole key is checked against a SHA-512 hash (djangorestframework-api-key's
hasher: fast, and safe for random high-entropy secrets). The secret itself
is never stored, so it is shown once, when the key is made.
"""

import re

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils import timezone
from django.utils.crypto import get_random_string
from rest_framework_api_key.crypto import KeyGenerator
from rest_framework_api_key.models import AbstractAPIKey, BaseAPIKeyManager

KEY_PREFIX = "kb_"
READ = "read"
ADMIN = "admin"
SCOPES = (READ, ADMIN)


class KirbyKeyGenerator(KeyGenerator):
    def generate(self):
        prefix = get_random_string(self.prefix_length)
        key = f"{KEY_PREFIX}{prefix}.{get_random_string(self.secret_key_length)}"
        return key, prefix, self.hash(key)


V1_KEY = re.compile(r"kb_[0-9a-f]{40}")


def prefix_of(key):
    """The lookup prefix of ``kb_<prefix>.<secret>``, or None when the key has another shape."""
    if not key.startswith(KEY_PREFIX):
        return None
    prefix, dot, secret = key[len(KEY_PREFIX) :].partition(".")
    return prefix if dot and len(prefix) == 8 and secret else None


class ApiKeyManager(BaseAPIKeyManager):
    key_generator = KirbyKeyGenerator(prefix_length=8, secret_key_length=40)

    def assign_key(self, obj):
        # The library would make the primary key out of the hash; ours is a plain integer.
        key, obj.prefix, obj.hashed_key = self.key_generator.generate()
        return key

    def get_usable_keys(self):
        return self.filter(revoked=False, active=True)


def default_scopes():
    return [READ]


class ApiKey(AbstractAPIKey):
    id = models.BigAutoField(primary_key=True)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys")
    scopes = ArrayField(
        models.CharField(max_length=16, choices=[(scope, scope) for scope in SCOPES]),
        default=default_scopes,
        help_text="read: market data; admin: key management and operations (implies read).",
    )
    active = models.BooleanField(default=True, help_text="An inactive key is refused until it is activated again.")
    rate_limit = models.PositiveIntegerField(
        null=True, blank=True, help_text="Requests per minute; empty means the deployment's default."
    )
    unlimited = models.BooleanField(default=False, help_text="Exempt from rate and connection limits.")
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    # A key imported from Kirby 1.x (``kb_`` + 40 hex, stored by 1.x as its SHA-256) is accepted as it
    # is; it cannot be made here (rotating one issues a key of Kirby's format).
    v1_key_hash = models.CharField(
        max_length=64, null=True, blank=True, unique=True, editable=False, help_text="SHA-256 of a Kirby 1.x key"
    )
    v1_key_prefix = models.CharField(max_length=10, blank=True, editable=False, help_text="1.x's key_prefix")
    replaced_by = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )

    objects = ApiKeyManager()

    class Meta(AbstractAPIKey.Meta):
        verbose_name = "API key"
        verbose_name_plural = "API keys"
        ordering = ("-created",)

    def __str__(self):
        return f"{self.name} ({self.display_prefix}...{', 1.x' if self.legacy else ''})"

    @property
    def is_admin(self):
        return ADMIN in self.scopes

    @property
    def legacy(self):
        """Imported from Kirby 1.x."""
        return self.v1_key_hash is not None

    @property
    def display_prefix(self):
        return self.v1_key_prefix if self.legacy else f"{KEY_PREFIX}{self.prefix}"

    def revoke(self):
        """Revoke for good (the library forbids un-revoking)."""
        if not self.revoked:
            self.revoked, self.revoked_at = True, timezone.now()
            self.save(update_fields=["revoked", "revoked_at"])


class ApiKeyUsage(models.Model):
    """One request (or WebSocket connection) made with a key, written in batches off the request path."""

    id = models.BigAutoField(primary_key=True)
    api_key = models.ForeignKey(ApiKey, on_delete=models.CASCADE, related_name="usage", db_index=False)
    time = models.DateTimeField(help_text="When the request arrived (UTC).")
    method = models.CharField(max_length=8, help_text="HTTP method, or WS for a WebSocket connection.")
    endpoint = models.CharField(max_length=200)
    status = models.PositiveSmallIntegerField(help_text="HTTP status, or the WebSocket close code of a refusal.")
    latency_ms = models.FloatField()
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=200, blank=True)

    class Meta:
        verbose_name = "API key usage"
        verbose_name_plural = "API key usage"
        indexes = [
            models.Index(fields=["api_key", "-time"], name="access_usage_key_time"),
            models.Index(fields=["time"], name="access_usage_time"),  # the retention purge
        ]
        ordering = ("-time",)

    def __str__(self):
        return f"{self.method} {self.endpoint} {self.status}"
