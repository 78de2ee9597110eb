"""Database aliases by the names operators use: ``production`` (alias ``default``) and ``training``."""

from django.conf import settings
from django.db import connections

NAMES = {"production": "default", "default": "default", "training": "training"}


class DatabaseUnavailable(Exception):
    """A command asked for a database this deployment does not have."""


def database_alias(name):
    """The Django alias of ``name``; a clear one-line error when it is not configured."""
    alias = NAMES.get(name, name)
    if alias not in settings.DATABASES:
        if alias == "training":
            raise DatabaseUnavailable(
                "the training database is not configured: set TRAINING_DATABASE_URL (see .env.example)"
            )
        raise DatabaseUnavailable(f"unknown database {name!r}; use production or training")
    return alias


def wait_for_connection(timeout, using="default"):
    """Raise (psycopg_pool.PoolTimeout, an OperationalError) unless a connection is had within ``timeout`` s.

    With psycopg's pool, Django waits for a connection up to the pool's whole
    timeout when the server refuses new ones (the pool retries in the
    background meanwhile). A caller that has somewhere else to put its work
    (the collector's spool) asks here first and fails fast instead. Without a
    pool, or with this thread's connection already open, it returns at once.
    """
    wrapper = connections[using]
    pool = wrapper.pool
    if pool is None or wrapper.connection is not None:
        return
    pool.open()
    pool.putconn(pool.getconn(timeout=timeout))
