"""`make run` / `make test` first check PostgreSQL and Redis and say how to start what is missing."""

import os
import subprocess
import sys

import psycopg
from django.conf import settings


def check_services(**env_changes):
    env = {**os.environ, "DEBUG": "true", "DJANGO_SETTINGS_MODULE": "kirby.settings", **env_changes}
    return subprocess.run(
        [sys.executable, "-m", "lib.services"], cwd=settings.BASE_DIR, env=env, capture_output=True, text=True
    )


def test_it_passes_when_both_services_answer():
    result = check_services()

    assert result.returncode == 0, result.stderr


def test_an_unreachable_redis_is_named_with_how_to_start_it():
    result = check_services(REDIS_URL="redis://127.0.0.1:1/0")

    assert result.returncode != 0
    assert "Redis is not reachable at redis://127.0.0.1:1/0" in result.stderr
    assert "redis-server" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unreachable_postgresql_is_named_with_how_to_start_it():
    result = check_services(DATABASE_URL="postgres://postgres@127.0.0.1:1/kirby")

    assert result.returncode != 0
    assert "PostgreSQL is not reachable at 127.0.0.1:1" in result.stderr
    assert "pg_ctlcluster" in result.stderr
    assert "Traceback" not in result.stderr


def drop_database(name):
    with psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres", autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {name}")


def test_a_missing_database_is_created():
    name = "kirby_service_check_test"
    drop_database(name)
    try:
        result = check_services(DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{name}")
        again = check_services(DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{name}")
    finally:
        drop_database(name)

    assert result.returncode == 0, result.stderr
    assert f"Created PostgreSQL database '{name}'" in result.stdout
    assert again.returncode == 0 and "Created" not in again.stdout
