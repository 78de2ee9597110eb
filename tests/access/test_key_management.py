"""Key management over REST (admin scope): users, keys shown once, revoke, rotate, usage."""

from django.contrib.auth import get_user_model

from apps.access.models import ApiKey
from apps.access.usage import recorder
from tests.access.conftest import CANDLES
from tests.conftest import keyed_client


def post(client, path, body=None):
    return client.post(path, body if body is not None else {}, content_type="application/json")


def new_user(admin_api, username="carol"):
    response = post(admin_api, "/admin/users", {"username": username, "email": f"{username}@example.com"})
    assert response.status_code == 201, response.content
    return response.json()


def new_key(admin_api, user_id, **body):
    response = post(admin_api, f"/admin/users/{user_id}/keys", {"name": "research", **body})
    assert response.status_code == 201, response.content
    return response.json()


def test_an_admin_creates_a_user_and_lists_and_reads_them(admin_api, world):
    carol = new_user(admin_api)
    assert carol["username"] == "carol" and carol["is_active"] and carol["api_key_count"] == 0

    listed = admin_api.get("/admin/users").json()
    assert listed[0] == carol  # a bare list, newest first, as 1.x
    assert admin_api.get(f"/admin/users/{carol['id']}/").json() == {**carol, "api_keys": []}


def test_a_new_key_is_shown_once_and_stored_only_as_a_hash(admin_api, world):
    carol = new_user(admin_api)
    created = new_key(admin_api, carol["id"], rate_limit=250, expires_in_days=30)

    secret = created["key"]
    assert secret.startswith("kb_") and created["prefix"] == secret.split(".")[0]
    assert created["rate_limit"] == 250 and created["scopes"] == ["read"] and created["expires_at"].endswith("Z")
    row = ApiKey.objects.get(id=created["id"])
    assert secret not in (row.hashed_key, row.prefix) and row.hashed_key.startswith("sha512$$")
    listed = admin_api.get(f"/admin/users/{carol['id']}/keys").json()
    assert len(listed) == 1 and "key" not in listed[0]
    assert keyed_client(secret).get(CANDLES).status_code == 200


def test_revoking_a_key_stops_it_at_once(admin_api, world):
    created = new_key(admin_api, new_user(admin_api)["id"])
    client = keyed_client(created["key"])
    assert client.get(CANDLES).status_code == 200

    assert admin_api.delete(f"/admin/keys/{created['id']}").status_code == 204
    assert client.get(CANDLES).json() == {"detail": "API key is inactive"}
    assert admin_api.delete(f"/admin/keys/{created['id']}").status_code == 204  # again: still revoked, no error


def test_rotation_gives_a_new_secret_and_revokes_the_old_one(admin_api, world):
    old = new_key(admin_api, new_user(admin_api)["id"], rate_limit=42, scopes=["read"])

    response = post(admin_api, f"/admin/keys/{old['id']}/rotate")
    assert response.status_code == 201
    new = response.json()
    assert new["key"] != old["key"] and new["rotated_from"] == old["id"]
    assert (new["name"], new["rate_limit"], new["scopes"], new["owner_id"]) == (
        old["name"], 42, ["read"], old["owner_id"]
    )  # fmt: skip
    assert keyed_client(new["key"]).get(CANDLES).status_code == 200
    assert keyed_client(old["key"]).get(CANDLES).status_code == 401
    again = post(admin_api, f"/admin/keys/{old['id']}/rotate")
    assert again.status_code == 400 and "revoked" in again.json()["detail"]


def test_usage_of_each_request_is_recorded_and_summarised(admin_api, world):
    created = new_key(admin_api, new_user(admin_api)["id"])
    client = keyed_client(created["key"])
    client.get(CANDLES, headers={"User-Agent": "research-bot/1.0"})
    client.get(CANDLES + "?limit=0")
    client.get("/funding/hyperliquid/BTC/USD/perps")
    recorder.flush()

    summary = admin_api.get(f"/admin/keys/{created['id']}/usage").json()
    assert summary["requests"] == 3 and summary["errors"] == 1
    assert summary["last_day"] == {"requests": 3, "errors": 1} and summary["last_week"] == {"requests": 3, "errors": 1}
    latest = summary["recent"]
    assert [(u["method"], u["endpoint"], u["status"]) for u in latest] == [
        ("GET", "/funding/hyperliquid/BTC/USD/perps", 200),
        ("GET", CANDLES, 400),
        ("GET", CANDLES, 200),
    ]
    assert latest[2]["user_agent"] == "research-bot/1.0" and latest[2]["client_ip"] == "127.0.0.1"
    assert all(u["latency_ms"] > 0 for u in latest)
    assert {"method": "GET", "endpoint": CANDLES, "requests": 2, "errors": 1} in summary["top_endpoints_last_week"]
    assert ApiKey.objects.get(id=created["id"]).last_used_at is not None


def test_bad_bodies_are_400s_naming_the_field(admin_api, world):
    carol = new_user(admin_api)
    response = post(
        admin_api, f"/admin/users/{carol['id']}/keys", {"name": "n" * 51, "rate_limit": 0, "scopes": ["write"]}
    )
    assert response.status_code == 400
    fields = {error["loc"][1] for error in response.json()["errors"]}
    assert fields == {"name", "rate_limit", "scopes"}
    assert post(admin_api, "/admin/users", {"username": "carol"}).json()["errors"][0]["loc"] == ["body", "username"]
    assert post(admin_api, "/admin/users", ["not", "an", "object"]).status_code == 400
    malformed = admin_api.post("/admin/users", "{nope", content_type="application/json")
    assert malformed.status_code == 400 and "JSON" in malformed.json()["detail"]


def test_unknown_and_malformed_ids(admin_api, world):
    assert admin_api.get("/admin/users/999999").json() == {"detail": "User not found"}
    assert admin_api.delete("/admin/keys/999999").json() == {"detail": "API key not found"}
    assert admin_api.get("/admin/keys/abc/usage").json()["errors"][0]["loc"] == ["path", "key_id"]


def test_a_user_made_here_cannot_log_in_to_the_django_admin_without_a_password(admin_api, world):
    carol = new_user(admin_api)
    assert not get_user_model().objects.get(id=carol["id"]).has_usable_password()


USER_1X = ["email", "username", "id", "is_active", "is_admin", "created_at", "updated_at"]
KEY_1X = ["id", "user_id", "key_prefix", "name", "is_active", "rate_limit", "expires_at", "last_used_at",
          "created_at", "updated_at"]  # fmt: skip


def test_1x_shapes_and_meanings_hold(admin_api, world):
    """kirby-1x.md §2.7: UserResponse and APIKeyResponse keys (in order), is_admin, ``{}`` as a key body."""
    boss = post(admin_api, "/admin/users", {"email": "boss@example.com", "username": "boss", "is_admin": True}).json()
    assert list(boss)[: len(USER_1X)] == USER_1X and boss["is_admin"] is True
    assert boss["created_at"].endswith("Z") and boss["updated_at"].endswith("Z")

    created = post(admin_api, f"/admin/users/{boss['id']}/keys", {})
    assert created.status_code == 201
    key = created.json()
    assert KEY_1X == [k for k in key if k in KEY_1X] and key["user_id"] == boss["id"] and key["is_active"]
    assert key["key_prefix"] == key["key"].split(".")[0] and key["scopes"] == ["read", "admin"]  # an admin's key
    assert keyed_client(key["key"]).get("/admin/users").status_code == 200

    plain = new_user(admin_api, "dave")
    assert post(admin_api, f"/admin/users/{plain['id']}/keys", {"name": "  "}).json()["scopes"] == ["read"]
    admin_api.delete(f"/admin/keys/{key['id']}")
    listed = admin_api.get(f"/admin/users/{boss['id']}/keys").json()
    assert [k["is_active"] for k in listed] == [False]
