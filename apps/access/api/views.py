"""Key management over REST (admin scope): users, their keys, revoke, rotate, usage."""

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db import transaction
from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.utils import extend_schema

from apps.access import keys, usage
from apps.access.api.serializers import (
    DEFAULT_KEY_NAME,
    USERNAME_TAKEN,
    NewKeySerializer,
    NewUserSerializer,
    key_body,
    new_key_body,
    user_body,
)
from apps.access.models import ADMIN, READ, ApiKey
from lib.http.errors import BadRequest, InvalidParameters, NotFound
from lib.http.params import path_id
from lib.http.render import JsonView, json_response
from lib.http.schema import ErrorSerializer, id_parameter

User = get_user_model()
_USER = {"parameters": [id_parameter("user_id")]}
_KEY = {"parameters": [id_parameter("key_id")]}
_NOT_FOUND = {404: ErrorSerializer}
_LIST = {"type": "array", "items": {"type": "object", "additionalProperties": {}}}  # 1.x answered bare lists


def _valid(serializer_class, request):
    if not isinstance(request.data, dict):
        raise InvalidParameters([("body", "body", "must be a JSON object")])
    serializer = serializer_class(data=request.data)
    if not serializer.is_valid():
        problems = []
        for name, messages in serializer.errors.items():
            for message in messages if isinstance(messages, list) else [messages]:
                problems.append(("body", "body" if name == "non_field_errors" else name, str(message)))
        taken = len(problems) == 1 and problems[0][2] == USERNAME_TAKEN
        raise InvalidParameters(problems, sentence=USERNAME_TAKEN if taken else None)
    return serializer.validated_data


def _identifier(raw, name):
    return path_id(raw, name)


def _user(raw):
    user = User.objects.filter(id=_identifier(raw, "user_id")).first()
    if user is None:
        raise NotFound("User not found")  # 1.x's words
    return user


def _key(raw):
    key = ApiKey.objects.filter(id=_identifier(raw, "key_id")).first()
    if key is None:
        raise NotFound("API key not found")  # 1.x's words
    return key


class AdminView(JsonView):
    access = "admin"


class UsersView(AdminView):
    @extend_schema(operation_id="admin_users", summary="All users, newest first (a bare list, as 1.x)",
                   responses={200: _LIST})  # fmt: skip
    def get(self, request):
        return json_response([user_body(user) for user in User.objects.order_by("-date_joined", "-id")])

    @extend_schema(operation_id="admin_create_user", request=NewUserSerializer, responses={201: dict})
    def post(self, request):
        data = _valid(NewUserSerializer, request)
        user = User.objects.create_user(
            username=data["username"],
            email=data["email"],
            is_staff=data["is_staff"] or data["is_admin"],
            is_active=data["is_active"],
        )
        return json_response(user_body(user), status=201)


class UserView(AdminView):
    @extend_schema(
        operation_id="admin_user", summary="One user with their keys", responses={200: dict, **_NOT_FOUND}, **_USER
    )
    def get(self, request, user_id):
        user = _user(user_id)
        return json_response({**user_body(user), "api_keys": [key_body(k) for k in user.api_keys.order_by("id")]})


class UserKeysView(AdminView):
    @extend_schema(
        operation_id="admin_user_keys",
        summary="A user's keys (never their secrets), newest first",
        responses={200: _LIST, **_NOT_FOUND},
        **_USER,
    )
    def get(self, request, user_id):
        # A bare list, newest first, as 1.x
        return json_response([key_body(k) for k in _user(user_id).api_keys.order_by("-created", "-id")])

    @extend_schema(
        operation_id="admin_create_key",
        summary="A new key for the user; the secret is in this response only",
        request=NewKeySerializer,
        responses={201: dict, **_NOT_FOUND},
        **_USER,
    )
    def post(self, request, user_id):
        user = _user(user_id)
        data = _valid(NewKeySerializer, request)
        days = data.get("expires_in_days")
        scopes = data.get("scopes") or ([READ, ADMIN] if user.is_staff else [READ])
        key, secret = keys.issue(
            user,
            (data["name"] or "").strip() or DEFAULT_KEY_NAME,
            scopes=scopes,
            rate_limit=data.get("rate_limit"),
            expires_at=timezone.now() + timedelta(days=days) if days else None,
            unlimited=data["unlimited"],
        )
        return json_response(new_key_body(key, secret), status=201)


class KeyView(AdminView):
    @extend_schema(
        operation_id="admin_revoke_key", summary="Revoke a key (for good)", responses={204: None, **_NOT_FOUND}, **_KEY
    )
    def delete(self, request, key_id):
        _key(key_id).revoke()
        return HttpResponse(status=204)


class KeyRotateView(AdminView):
    @extend_schema(
        operation_id="admin_rotate_key",
        summary="A new secret for the key's owner, name, scopes and limits; the old key is revoked",
        request=None,
        responses={201: dict, 400: ErrorSerializer, **_NOT_FOUND},
        **_KEY,
    )
    def post(self, request, key_id):
        with transaction.atomic():
            old = ApiKey.objects.select_for_update().filter(id=_identifier(key_id, "key_id")).first()
            if old is None:
                raise NotFound("API key not found")
            if old.revoked:
                raise BadRequest(f"API key {old.id} is revoked and cannot be rotated")
            new, secret = keys.rotate(old)
        return json_response({**new_key_body(new, secret), "rotated_from": old.id}, status=201)


class KeyUsageView(AdminView):
    @extend_schema(
        operation_id="admin_key_usage",
        summary="Requests and errors of a key",
        responses={200: dict, **_NOT_FOUND},
        **_KEY,
    )
    def get(self, request, key_id):
        return json_response(usage.summary(_key(key_id)))
