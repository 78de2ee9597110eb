"""bootstrap_admin and create_api_key: keys printed once, clear one-line errors."""

import re
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from apps.access.models import ApiKey
from tests.access.conftest import CANDLES
from tests.conftest import keyed_client

KEY = re.compile(r"kb_[A-Za-z0-9]{8}\.[A-Za-z0-9]+")


def run(*args):
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_bootstrap_admin_makes_the_first_superuser_and_an_admin_key(world):
    output = run("bootstrap_admin", "--username", "founder")

    user = get_user_model().objects.get(username="founder")
    assert user.is_superuser and user.is_staff
    password = re.search(r"Password:\s+(\S+)", output).group(1)
    assert user.check_password(password)
    secret = KEY.search(output).group(0)
    assert keyed_client(secret).get("/admin/users").status_code == 200


def test_bootstrap_admin_makes_the_first_admin_beside_other_users_and_refuses_a_second_unless_forced(world):
    get_user_model().objects.create_user("demo")  # make demo's user is no admin
    output = run("bootstrap_admin")
    # Kirby 1.x's deploy.sh takes the key with  grep -A 2 "API KEY" | tail -n 1
    lines = output.splitlines()
    at = next(i for i, line in enumerate(lines) if "API KEY" in line)
    assert KEY.fullmatch(lines[at + 2]) and keyed_client(lines[at + 2]).get("/admin/users").status_code == 200
    with pytest.raises(CommandError, match="1 admin user\\(s\\) exist already; use --force"):
        run("bootstrap_admin", "--username", "second")
    assert "Admin API key" in run("bootstrap_admin", "--force", "--username", "x", "--password", "given-pw-1234")
    assert "given-pw-1234" not in run("bootstrap_admin", "--force", "--username", "other", "--password", "x-pw-9876")


def test_create_api_key_prints_a_working_key_with_its_options(world):
    get_user_model().objects.create_user("frank")
    output = run("create_api_key", "--user", "frank", "--name", "cron", "--rate-limit", "10", "--expires-in-days", "7")

    key = ApiKey.objects.get(name="cron")
    assert (key.owner.username, key.scopes, key.rate_limit, key.expiry_date is not None) == (
        "frank",
        ["read"],
        10,
        True,
    )
    assert keyed_client(KEY.search(output).group(0)).get(CANDLES).status_code == 200


@pytest.mark.parametrize(
    "args, message",
    [
        (["--user", "nobody", "--name", "x"], "no user named 'nobody' (add --create-user to make one)"),
        (["--user", "frank", "--name", "x", "--scopes", "read,write"], "--scopes must list some of read, admin"),
        (["--user", "frank", "--name", "x", "--rate-limit", "0"], "--rate-limit must be a positive integer"),
        (["--user", "frank", "--name", "x" * 51], "--name must be at most 50 characters"),
    ],
)
def test_create_api_key_explains_bad_arguments(world, args, message):
    get_user_model().objects.create_user("frank")
    with pytest.raises(CommandError, match=re.escape(message)):
        run("create_api_key", *args)


def test_create_api_key_takes_1xs_positional_form_and_an_admins_key_is_an_admin_key(world):
    get_user_model().objects.create_user("frank")
    output = run("create_api_key", "frank", "nightly export")
    assert ApiKey.objects.get(name="nightly export").scopes == ["read"] and KEY.search(output)
    get_user_model().objects.create_user("admin", is_staff=True)
    run("create_api_key")  # 1.x's defaults: USERNAME admin, NAME "CLI Generated Key"
    assert ApiKey.objects.get(name="CLI Generated Key").scopes == ["read", "admin"]
    with pytest.raises(CommandError, match="give the user once"):
        run("create_api_key", "frank", "--user", "frank")


def test_backfill_takes_1xs_all(world):
    from apps.backfill.models import BackfillJob

    run("backfill", "--all", "--days", "1", "--background")  # the jobs wait for the workers
    assert set(BackfillJob.objects.values_list("starlisting_id", flat=True)) == {
        world.btc_1m.id, world.btc_1h.id, world.sol_1m.id
    }  # fmt: skip
    with pytest.raises(CommandError, match="--all: .*no --interval or --funding"):
        run("backfill", "--all", "--days", "1", "--funding")
    with pytest.raises(CommandError, match="--all means every training star"):
        run("backfill_training", "--all", "--coin", "BTC", "--database", "production")


def test_create_api_key_can_make_the_user(world):
    output = run("create_api_key", "--user", "grace", "--name", "ops", "--scopes", "read,admin", "--create-user")
    assert get_user_model().objects.filter(username="grace").exists() and "(read, admin)" in output


def test_usage_older_than_the_retention_is_purged(world, settings):
    from datetime import timedelta

    from django.utils import timezone

    from apps.access.models import ApiKeyUsage
    from apps.access.tasks import purge_api_usage
    from tests.access.conftest import issue

    settings.KIRBY_USAGE_RETENTION_DAYS = 30
    row = issue()[0]
    now = timezone.now()
    for age in (31, 29):
        ApiKeyUsage.objects.create(api_key=row, time=now - timedelta(days=age), method="GET", endpoint="/x",
                                   status=200, latency_ms=1.0)  # fmt: skip
    assert purge_api_usage() == 1
    assert [u.time.date() for u in ApiKeyUsage.objects.all()] == [(now - timedelta(days=29)).date()]


def test_bootstrap_admin_if_none_makes_the_first_admin_once_and_then_succeeds_quietly(world):
    """docker-compose runs it on every start: the key appears once, later starts do not fail."""
    first = run("bootstrap_admin", "--if-none")
    again = run("bootstrap_admin", "--if-none", "--username", "someone-else")

    assert KEY.search(first) and keyed_client(KEY.search(first).group(0)).get("/admin/users").status_code == 200
    assert not KEY.search(again) and "An admin exists already" in again
    assert get_user_model().objects.filter(is_superuser=True).count() == 1
