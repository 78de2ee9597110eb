"""Bodies of the key-management endpoints (API.md, 1.x paths)."""

from django.contrib.auth import get_user_model
from rest_framework import serializers

from apps.access.models import SCOPES, ApiKey
from lib.http.render import iso

User = get_user_model()


USERNAME_TAKEN = "Username already taken"


class NewUserSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150, required=False)
    email = serializers.EmailField(required=False, allow_blank=True, default="")
    is_staff = serializers.BooleanField(required=False, default=False)
    # 1.x's word for it: an admin user, whose keys are admin keys unless scopes say otherwise.
    is_admin = serializers.BooleanField(required=False, default=False)
    is_active = serializers.BooleanField(required=False, default=True)

    def validate(self, data):
        data["username"] = data.get("username") or data.get("email")
        if not data["username"]:
            raise serializers.ValidationError({"username": "username or email is required"})
        # 1.x's words; its detail was the sentence alone. (1.x also refused a second user with one email:
        # Kirby's users are their usernames, as Django's are.)
        if User.objects.filter(username__iexact=data["username"]).exists():
            raise serializers.ValidationError({"username": USERNAME_TAKEN})
        return data


class NewKeySerializer(serializers.Serializer):
    # Optional, as in 1.x (``{}`` is a valid body): blank or missing gets DEFAULT_KEY_NAME.
    name = serializers.CharField(max_length=50, required=False, allow_blank=True, allow_null=True, default=None)
    rate_limit = serializers.IntegerField(min_value=1, max_value=1_000_000, required=False, allow_null=True)
    expires_in_days = serializers.IntegerField(min_value=1, max_value=3650, required=False, allow_null=True)
    # Missing: read, plus admin for an admin user (1.x: an admin user's keys are admin keys).
    scopes = serializers.ListField(child=serializers.ChoiceField(choices=SCOPES), min_length=1, required=False)
    unlimited = serializers.BooleanField(required=False, default=False)


DEFAULT_KEY_NAME = "API key"


def user_body(user):
    # 1.x's UserResponse keys, then Kirby's. Django keeps no change time of a user: updated_at is date_joined.
    joined = iso(user.date_joined)
    return {
        "email": user.email,
        "username": user.username,
        "id": user.id,
        "is_active": user.is_active,
        "is_admin": user.is_staff,
        "created_at": joined,
        "updated_at": joined,
        "is_staff": user.is_staff,
        "date_joined": joined,
        "api_key_count": user.api_keys.count(),
    }


def key_body(key: ApiKey):
    # 1.x's APIKeyResponse keys in its order, then Kirby's. A key changes only when it is revoked,
    # so updated_at is then, else its creation.
    return {
        "id": key.id,
        "user_id": key.owner_id,
        "key_prefix": key.display_prefix,
        "name": key.name,
        "is_active": key.active and not key.revoked,
        "rate_limit": key.rate_limit,
        "expires_at": iso(key.expiry_date),
        "last_used_at": iso(key.last_used_at),
        "created_at": iso(key.created),
        "updated_at": iso(key.revoked_at or key.created),
        "prefix": key.display_prefix,
        "owner_id": key.owner_id,
        "scopes": list(key.scopes),
        "active": key.active,
        "revoked": key.revoked,
        "revoked_at": iso(key.revoked_at),
        "unlimited": key.unlimited,
        "replaced_by": key.replaced_by_id,
        "legacy": key.legacy,  # imported from Kirby 1.x (accepted as it is; rotate for a key of Kirby's format)
    }


def new_key_body(key, secret):
    return {**key_body(key), "key": secret, "message": "Store this key now: it cannot be shown again."}
