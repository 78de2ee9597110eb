"""Typed readers for environment variables.

Settings come only from the environment. Each helper refuses a malformed
value with a message naming the variable, so a typo fails at start-up rather
than as odd behaviour later.
"""

import os
from urllib.parse import parse_qsl, unquote, urlsplit


class ConfigError(Exception):
    """An environment variable holds a value Kirby cannot use."""


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name, default=None, *, required=False):
    value = os.environ.get(name)
    if value is None or value == "":
        if required:
            raise ConfigError(f"{name} is required but not set")
        return default
    return value


def env_bool(name, default=False):
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def env_int(name, default, *, minimum=None, maximum=None):
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ConfigError(f"{name} must be at most {maximum}, got {value}")
    return value


def env_float(name, default, *, minimum=None):
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw.strip())
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


def env_list(name, default=()):
    """Comma-separated list; blanks dropped."""
    raw = os.environ.get(name)
    if raw is None:
        return list(default)
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_days(name, default):
    """Comma-separated ``key=days`` pairs; days a non-negative number or ``forever`` (None)."""
    raw = os.environ.get(name)
    raw = default if raw is None or raw.strip() == "" else raw
    result = {}
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        key, sep, value = item.partition("=")
        value = value.strip().lower()
        try:
            days = None if value == "forever" else float(value)
        except ValueError:
            days = -1.0
        if not sep or not key.strip() or (days is not None and not days >= 0):
            raise ConfigError(f"{name} must be key=days pairs (days a number or forever), got {item!r}")
        result[key.strip()] = days
    return result


def database_from_url(name, default):
    """Turn a postgres:// URL into a Django DATABASES entry.

    Query parameters become connection OPTIONS (e.g. ``sslmode=require``).
    """
    return database_from_url_value(name, env_str(name, default))


def database_from_url_value(name, url):
    """``database_from_url`` for a URL already read (one of a list); errors name ``name``."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql", "pgsql"):
        raise ConfigError(f"{name} must be a postgres:// URL, got scheme {parts.scheme!r}")
    database = unquote(parts.path.lstrip("/"))
    if not database:
        raise ConfigError(f"{name} must name a database, e.g. postgres://user@host:5432/kirby")
    try:
        port = parts.port
    except ValueError:
        raise ConfigError(f"{name} has an invalid port") from None
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": database,
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "",
        "PORT": str(port or ""),
        "OPTIONS": dict(parse_qsl(parts.query)),
    }
