"""KIRBY_AUTH_REQUIRED=false never opens the admin API and is never silent; probes do not leak
driver messages; export jobs are readable only by the key that queued them and by admins."""

import json
import logging
import os
import subprocess
import sys
from unittest import mock

import pytest
from django.test import Client

from tests.conftest import keyed_client, make_key

CANDLES = "/candles/hyperliquid/BTC/USD/perps/1m"


def test_with_auth_off_the_admin_api_still_requires_an_admin_key(world, settings, api_key):
    settings.KIRBY_AUTH_REQUIRED = False
    assert Client().get(CANDLES).status_code == 200  # data is open, as the switch promises
    assert Client().get("/admin/users").status_code == 401
    assert Client().post("/admin/users", {"username": "mallory"}, content_type="application/json").status_code == 401
    assert keyed_client(api_key).get("/admin/users").status_code == 403
    assert Client().get("/api/status").status_code == 401
    assert Client().get("/backfills").status_code == 401
    admin = keyed_client(make_key("operator", scopes=["read", "admin"]))
    assert admin.get("/admin/users").status_code == 200


def _settings_import(**env):
    """Import the settings in a fresh interpreter with ``env``: (exit code, stderr)."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("KIRBY_AUTH")}
    environment.update({"SECRET_KEY": "x" * 50, **env})
    run = subprocess.run(
        [sys.executable, "-c", "import kirby.settings"], env=environment, capture_output=True, text=True, timeout=60
    )
    return run.returncode, run.stderr


def test_with_debug_off_switching_auth_off_needs_an_acknowledgement():
    code, stderr = _settings_import(DEBUG="false", KIRBY_AUTH_REQUIRED="false")
    assert code != 0 and "KIRBY_AUTH_DISABLED_I_UNDERSTAND" in stderr
    assert _settings_import(DEBUG="false", KIRBY_AUTH_REQUIRED="false", KIRBY_AUTH_DISABLED_I_UNDERSTAND="true")[0] == 0
    assert _settings_import(DEBUG="true", KIRBY_AUTH_REQUIRED="false")[0] == 0


def test_auth_off_is_logged_at_start_and_shown_in_the_status(world, settings, caplog):
    from django.apps import apps

    settings.KIRBY_AUTH_REQUIRED = False
    with caplog.at_level(logging.WARNING, logger="apps.access"):
        apps.get_app_config("access").ready()
    assert "KIRBY_AUTH_REQUIRED=false" in caplog.text

    admin = keyed_client(make_key("operator", scopes=["read", "admin"]))
    access = admin.get("/api/status").json()["access"]
    assert access["auth_required"] is False and "KIRBY_AUTH_REQUIRED=false" in access["warning"]
    settings.KIRBY_AUTH_REQUIRED = True
    assert admin.get("/api/status").json()["access"] == {
        "auth_required": True,
        "rate_limit_enabled": settings.KIRBY_RATE_LIMIT_ENABLED,
        "warning": None,
    }


def _unreachable_database():
    """A real connection attempt that fails: the driver's message names the host, port and user."""
    import psycopg

    psycopg.connect("postgresql://kirby_prod@127.0.0.1:1/kirby_secret_db", connect_timeout=2).close()


def test_probes_say_what_failed_without_the_drivers_message(world):
    import psycopg

    with pytest.raises(psycopg.OperationalError, match="127.0.0.1"):
        _unreachable_database()  # what used to be echoed
    with mock.patch.dict("apps.operations.checks.CHECKS", {"database": _unreachable_database}):
        health, ready = Client().get("/health"), Client().get("/readyz")

    assert health.status_code == ready.status_code == 503
    for response in (health, ready):
        text = response.content.decode()
        assert "127.0.0.1" not in text and "kirby_prod" not in text and "kirby_secret_db" not in text
    assert health.json()["database"] == "error: database unreachable (OperationalError)"
    assert ready.json()["checks"]["database"] == "error: database unreachable (OperationalError)"


REQUEST = {"type": "funding", "exchange": "hyperliquid", "coin": "BTC", "quote": "USD", "market_type": "perps"}


def test_an_export_job_is_readable_only_by_its_key_and_by_admins(world, settings, tmp_path):
    settings.KIRBY_EXPORT_DIR = tmp_path
    owner, other = keyed_client(make_key("alice")), keyed_client(make_key("bob"))
    admin = keyed_client(make_key("operator", scopes=["read", "admin"]))
    created = owner.post("/exports", json.dumps(REQUEST), content_type="application/json")
    assert created.status_code == 202
    path = f"/exports/{created.json()['id']}"

    assert owner.get(path).status_code == 200
    assert admin.get(path).status_code == 200
    refused = other.get(path)
    assert refused.status_code == 404 and created.json()["id"] in refused.json()["detail"]
