"""Bodies of the key-management endpoints (API.md, 1.x paths)."""

from django.contrib.auth import get_user_model
from rest_framework import serializers

from apps.access.models import SCOPES, ApiKey
from lib.http.render import iso

User = get_user_model()


class NewUserSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150, required=False)
    email = serializers.EmailField(required=False, allow_blank=True, default="")
    is_staff = serializers.BooleanField(required=False, default=False)
    is_active = serializers.BooleanField(required=False, default=True)

    def validate(self, data):
        data["username"] = data.get("username") or data.get("email")
        if not data["username"]:
            raise serializers.ValidationError({"username": "username or email is required"})
        if User.objects.filter(username__iexact=data["username"]).exists():
            raise serializers.ValidationError({"username": f"a user named {data['username']!r} exists already"})
        return data


class NewKeySerializer(serializers.Serializer):
    name = serializers.CharField(max_length=50)
    rate_limit = serializers.IntegerField(min_value=1, max_value=1_000_000, required=False, allow_null=True)
    expires_in_days = serializers.IntegerField(min_value=1, max_value=3650, required=False, allow_null=True)
    scopes = serializers.ListField(
        child=serializers.ChoiceField(choices=SCOPES), min_length=1, required=False, default=["read"]
    )
    unlimited = serializers.BooleanField(required=False, default=False)


def user_body(user):
    return {
        "id": user.id,
        "username": user.username,
        "email": user.email,
        "is_active": user.is_active,
        "is_staff": user.is_staff,
        "date_joined": iso(user.date_joined),
        "api_key_count": user.api_keys.count(),
    }


def key_body(key: ApiKey):
    return {
        "id": key.id,
        "name": key.name,
        "prefix": key.display_prefix,
        "owner_id": key.owner_id,
        "scopes": list(key.scopes),
        "active": key.active,
        "revoked": key.revoked,
        "revoked_at": iso(key.revoked_at),
        "expires_at": iso(key.expiry_date),
        "rate_limit": key.rate_limit,
        "unlimited": key.unlimited,
        "created_at": iso(key.created),
        "last_used_at": iso(key.last_used_at),
        "replaced_by": key.replaced_by_id,
        "legacy": key.legacy,  # imported from Kirby 1.x (accepted as it is; rotate for a key of Kirby's format)
    }


def new_key_body(key, secret):
    return {**key_body(key), "key": secret, "message": "Store this key now: it cannot be shown again."}
