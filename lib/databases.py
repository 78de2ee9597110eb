"""Database aliases by the names operators use: ``production`` (alias ``default``) and ``training``."""

from django.conf import settings

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
