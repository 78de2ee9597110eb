"""Keys in the Django admin: the secret shown once at creation, revoke and rotate actions, usage per key."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session

from apps.access.models import ApiKey
from apps.access.usage import recorder
from tests.access.conftest import CANDLES, issue
from tests.conftest import keyed_client

SECRET = re.compile(r"<code>(kb_[A-Za-z0-9]{8}\.[A-Za-z0-9]+)</code>")


@pytest.fixture
def staff(client, world):
    user = get_user_model().objects.create_superuser("ops", "ops@example.com", "pw-for-tests-only")
    client.force_login(user)
    return client


def test_a_key_created_in_the_admin_shows_its_secret_once(staff, world):
    owner = get_user_model().objects.create_user("dana")
    response = staff.post(
        "/admin/access/apikey/add/",
        {"name": "notebook", "owner": owner.id, "scopes": "read", "active": "on", "rate_limit": "60"},
    )
    # In the answer to the POST itself: not carried to a next page in a message cookie or the session.
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    secret = SECRET.search(response.content.decode()).group(1)
    assert all(secret not in morsel.value for morsel in response.cookies.values())
    assert all(secret not in str(session.get_decoded()) for session in Session.objects.all())
    key = ApiKey.objects.get(name="notebook")
    assert (key.owner, key.scopes, key.rate_limit) == (owner, ["read"], 60)
    assert keyed_client(secret).get(CANDLES).status_code == 200
    page = staff.get(f"/admin/access/apikey/{key.id}/change/").content.decode()
    assert secret not in page and f"kb_{key.prefix}" in page


def test_an_unknown_scope_is_refused_by_the_form(staff, world):
    owner = get_user_model().objects.create_user("erin")
    response = staff.post("/admin/access/apikey/add/", {"name": "x", "owner": owner.id, "scopes": "write"})
    assert response.status_code == 200 and not ApiKey.objects.filter(name="x").exists()


def test_the_revoke_action_stops_the_key(staff, world):
    row, secret = issue()
    staff.post("/admin/access/apikey/", {"action": "revoke_keys", "_selected_action": [row.id]})
    assert keyed_client(secret).get(CANDLES).json() == {"detail": "API key is inactive"}


def test_the_rotate_action_shows_the_new_secret_and_revokes_the_old(staff, world):
    row, old = issue()
    response = staff.post("/admin/access/apikey/", {"action": "rotate_keys", "_selected_action": [row.id]})
    assert response.status_code == 200
    new = SECRET.search(response.content.decode()).group(1)
    assert all(new not in morsel.value for morsel in response.cookies.values())
    assert keyed_client(new).get(CANDLES).status_code == 200
    assert keyed_client(old).get(CANDLES).status_code == 401


def test_usage_is_visible_per_key(staff, world):
    row, secret = issue()
    keyed_client(secret).get(CANDLES)
    keyed_client(secret).get(CANDLES + "?limit=0")
    recorder.flush()

    page = staff.get(f"/admin/access/apikey/{row.id}/change/").content.decode()
    assert "2 requests (1 errors)" in page and CANDLES in page
    listing = staff.get("/admin/access/apikeyusage/", {"q": row.name}).content.decode()
    assert listing.count(CANDLES) >= 2


def test_the_admin_is_kirbys_and_its_index_shows_the_status_summary_and_links(staff, world):
    page = staff.get("/admin/").content.decode()

    assert "Kirby administration" in page and "Django administration" not in page
    assert 'id="kirby-status"' in page
    for label in ("Streams", "Starlistings behind", "Open gaps", "Backfills"):
        assert f'<th scope="row">{label}</th>' in page, label
    assert "of 3" in page  # the world's three active starlistings, none collected yet
    for link in ('href="/dashboard"', 'href="/docs"', 'href="/api/status"', "Grafana"):
        assert link in page, link


def test_a_1x_key_is_marked_in_the_key_list(staff, world):
    from apps.access.models import ApiKey

    ApiKey.objects.create(
        owner=get_user_model().objects.create_user("old-bot"), name="bot", prefix="1.7", hashed_key="!",
        v1_key_hash="0" * 64, v1_key_prefix="kb_01234",
    )  # fmt: skip
    page = staff.get("/admin/access/apikey/").content.decode()
    assert "Kirby 1.x key" in page and "kb_01234..." in page
