"""1.x users and API keys -> Kirby's (reference kirby-1x.md §1.8).

A user is matched by username. A key is matched by 1.x's ``key_hash`` (the
SHA-256 of the key), kept so the key itself goes on working; owner, name,
rate limit, expiry, active flag, last use and creation time are kept, and a
1.x admin's keys get the admin scope. The key's own lookup prefix is
``1.<1.x id>``, a shape Kirby's generator never makes.
"""

from django.contrib.auth import get_user_model
from django.db import transaction

from apps.access.models import ADMIN, READ, ApiKey
from apps.marketdata.v1import.reference import TableCount

_NAME_LENGTH = ApiKey._meta.get_field("name").max_length


def _rows(source, sql):
    with source.cursor() as cursor:
        cursor.execute(sql)
        names = [d.name for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def import_users_and_keys(source):
    """Return {table: TableCount} for users and api_keys."""
    User = get_user_model()
    users, keys = TableCount(), TableCount()
    owners, admins = {}, set()
    with transaction.atomic():
        for row in _rows(source, "SELECT id, email, username, is_active, is_admin, created_at FROM users ORDER BY id"):
            users.read += 1
            user = User.objects.filter(username=row["username"]).first()
            if user is None:
                user = User(
                    username=row["username"],
                    email=row["email"],
                    is_active=row["is_active"],
                    is_staff=row["is_admin"],
                    date_joined=row["created_at"],
                )
                user.set_unusable_password()  # 1.x users had no password; an admin can set one
                user.save()
                users.written += 1
            owners[row["id"]] = user
            if row["is_admin"]:
                admins.add(row["id"])
        known = set(ApiKey.objects.filter(v1_key_hash__isnull=False).values_list("v1_key_hash", flat=True))
        for row in _rows(
            source,
            "SELECT id, user_id, key_hash, key_prefix, name, is_active, rate_limit, expires_at, last_used_at,"
            " created_at FROM api_keys ORDER BY id",
        ):
            keys.read += 1
            digest = row["key_hash"].strip().lower()
            if len(digest) != 64 or any(ch not in "0123456789abcdef" for ch in digest):
                keys.reject("key_hash is not a SHA-256 hex digest")
                continue
            if digest in known:
                continue
            name = row["name"] or f"1.x key {row['id']}"
            if len(name) > _NAME_LENGTH:
                keys.note(f"name cut to {_NAME_LENGTH} characters")
                name = name[:_NAME_LENGTH]
            key = ApiKey.objects.create(
                owner=owners[row["user_id"]],
                name=name,
                prefix=f"1.{row['id']}",
                hashed_key="!",  # never matches: a 1.x key is checked against v1_key_hash
                v1_key_hash=digest,
                v1_key_prefix=row["key_prefix"],
                scopes=[READ, ADMIN] if row["user_id"] in admins else [READ],
                active=row["is_active"],
                rate_limit=row["rate_limit"],
                expiry_date=row["expires_at"],
            )
            # auto_now_add and non-editable fields: set after the create
            ApiKey.objects.filter(id=key.id).update(created=row["created_at"], last_used_at=row["last_used_at"])
            known.add(digest)
            keys.written += 1
    return {"users": users, "api_keys": keys}
