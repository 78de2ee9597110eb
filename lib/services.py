"""Check that PostgreSQL and Redis answer before Kirby starts or tests run.

Run as ``python -m lib.services``. Says which service is missing and how to
start it, instead of a traceback later; creates the database when the server
is up but the database does not exist yet.
"""

import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kirby.settings")

POSTGRES_HINT = (
    "Start it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
    " (or point DATABASE_URL at a running server)"
)
REDIS_HINT = (
    "Start it with: redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no"
    " (or point REDIS_URL at a running server)"
)


def check_postgres(database):
    import psycopg

    params = {
        "host": database["HOST"] or None,
        "port": database["PORT"] or None,
        "user": database["USER"] or None,
        "password": database["PASSWORD"] or None,
    }
    name = database["NAME"]
    try:
        psycopg.connect(dbname=name, connect_timeout=3, **params).close()
        return None
    except psycopg.OperationalError as error:
        if f'database "{name}" does not exist' not in str(error):
            where = f"{params['host'] or 'local socket'}:{params['port'] or 5432}"
            return f"PostgreSQL is not reachable at {where}: {str(error).strip().splitlines()[-1]}\n  {POSTGRES_HINT}"
    with psycopg.connect(dbname="postgres", autocommit=True, connect_timeout=3, **params) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    print(f"Created PostgreSQL database {name!r}.")
    return None


def check_redis(url):
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=3).ping()
        return None
    except redis.RedisError as error:
        return f"Redis is not reachable at {url}: {error}\n  {REDIS_HINT}"


def main():
    from lib.env import ConfigError

    try:
        from django.conf import settings

        databases = settings.DATABASES
        redis_url = settings.REDIS_URL
    except ConfigError as error:
        sys.exit(f"Configuration error: {error}")
    problems = [check_postgres(databases["default"]), check_redis(redis_url)]
    problems = [p for p in problems if p]
    if problems:
        sys.exit("\n".join(problems))


if __name__ == "__main__":
    main()
