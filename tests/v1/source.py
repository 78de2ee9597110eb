"""A throwaway Kirby 1.x database on the local server, built with 1.x's own DDL (TimescaleDB calls left out)."""

import hashlib
from contextlib import contextmanager
from pathlib import Path

import psycopg

SCHEMA = Path(__file__).resolve().parent.parent / "fixtures" / "kirby_1x_schema.sql"


def server_url(database_url, name):
    return database_url.rsplit("/", 1)[0] + "/" + name


@contextmanager
def v1_database(database_url, name):
    """Create ``name`` with 1.x's schema; yield its URL; drop it afterwards."""
    admin = server_url(database_url, "postgres")
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')
    url = server_url(database_url, name)
    try:
        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute(SCHEMA.read_text())
        yield url
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def key_hash(key):
    """What 1.x stored of a key."""
    return hashlib.sha256(key.encode()).hexdigest()
