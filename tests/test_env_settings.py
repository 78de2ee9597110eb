"""Settings come from the environment and bad values are refused by name."""

import os
import subprocess
import sys

import pytest
from django.conf import settings

from lib.env import ConfigError, database_from_url, env_bool, env_int, env_list


@pytest.fixture
def environ(monkeypatch):
    def set_(**values):
        for name, value in values.items():
            monkeypatch.setenv(name, value)

    return set_


@pytest.mark.parametrize("raw, expected", [("true", True), ("1", True), ("YES", True), ("off", False), ("0", False)])
def test_booleans_accept_the_usual_spellings(environ, raw, expected):
    environ(KIRBY_FLAG=raw)

    assert env_bool("KIRBY_FLAG") is expected


def test_a_malformed_boolean_is_refused_by_name(environ):
    environ(KIRBY_FLAG="yes please")

    with pytest.raises(ConfigError, match="KIRBY_FLAG must be true or false"):
        env_bool("KIRBY_FLAG")


def test_integers_are_checked_for_type_and_range(environ):
    environ(KIRBY_N="12", KIRBY_BAD="twelve", KIRBY_SMALL="0")

    assert env_int("KIRBY_N", 1) == 12
    with pytest.raises(ConfigError, match="KIRBY_BAD must be an integer"):
        env_int("KIRBY_BAD", 1)
    with pytest.raises(ConfigError, match="KIRBY_SMALL must be at least 1"):
        env_int("KIRBY_SMALL", 1, minimum=1)


def test_lists_are_comma_separated(environ):
    environ(ALLOWED_HOSTS=" a.example , b.example,,")

    assert env_list("ALLOWED_HOSTS") == ["a.example", "b.example"]


def test_database_urls_become_django_settings(environ):
    environ(DATABASE_URL="postgres://kirby:p%40ss@db.internal:6543/market?sslmode=require")

    database = database_from_url("DATABASE_URL", "postgres://localhost/kirby")

    assert (database["NAME"], database["USER"], database["PASSWORD"]) == ("market", "kirby", "p@ss")
    assert (database["HOST"], database["PORT"], database["OPTIONS"]) == ("db.internal", "6543", {"sslmode": "require"})


@pytest.mark.parametrize("url", ["mysql://localhost/kirby", "postgres://localhost/", "postgres://localhost:port/k"])
def test_an_unusable_database_url_is_refused(environ, url):
    environ(DATABASE_URL=url)

    with pytest.raises(ConfigError, match="DATABASE_URL"):
        database_from_url("DATABASE_URL", "postgres://localhost/kirby")


def test_the_default_database_is_the_local_kirby_database():
    assert settings.DATABASES["default"]["HOST"] == "127.0.0.1"


@pytest.mark.django_db
def test_connections_run_without_jit_which_costs_each_write_batch_a_compile():
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW jit")
        assert cursor.fetchone()[0] == "off"
        cursor.execute("SELECT count(*) FROM pg_settings WHERE name = 'jit' AND source = 'client'")
        assert cursor.fetchone()[0] == 1  # set by Kirby's connection, not by the server's configuration


def run_manage(env_changes):
    env = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "SECRET_KEY")}
    env.update(DJANGO_SETTINGS_MODULE="kirby.settings", **env_changes)
    return subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=settings.BASE_DIR, env=env, capture_output=True, text=True
    )


def test_without_debug_a_secret_key_is_required():
    result = run_manage({"DEBUG": "false"})

    assert result.returncode != 0
    assert "SECRET_KEY is required when DEBUG is off" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_bad_value_stops_start_up_with_its_name():
    result = run_manage({"DEBUG": "true", "KIRBY_PARTITION_MONTHS_AHEAD": "lots"})

    assert result.returncode != 0
    assert "KIRBY_PARTITION_MONTHS_AHEAD must be an integer" in result.stderr


def test_every_variable_the_settings_read_is_documented_in_env_example():
    import re
    from pathlib import Path

    base = Path(settings.BASE_DIR)
    source = "".join(path.read_text() for path in (base / "kirby").glob("*.py"))
    read = set(re.findall(r'(?:env_\w+|database_from_url)\(\s*"([A-Z][A-Z0-9_]*)"', source))
    documented = set(re.findall(r"^([A-Z][A-Z0-9_]*)=", (base / ".env.example").read_text(), re.MULTILINE))

    assert read, "no environment variables found in kirby/"
    assert read - documented == set()
