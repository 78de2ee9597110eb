"""The local ``.env``: written by ``make run`` on first use, read by the settings.

``python -m lib.envfile [PATH]`` writes PATH (default ``.env`` beside
manage.py) when it does not exist: a generated SECRET_KEY, DEBUG=true and
the local services, so every ``manage.py`` command of the README works as
typed. An existing file is never touched. ``load`` puts the file's values
into the environment where the environment has none: what is exported in
the shell (or by docker-compose) always wins. Lines are ``NAME=value``;
blank lines and ``#`` comments are skipped, and one pair of surrounding
quotes is removed.
"""

import os
import secrets
import sys
from pathlib import Path

DEFAULT = Path(__file__).resolve().parent.parent / ".env"
LOCAL = {
    "DEBUG": "true",
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/kirby",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
}


def parse(text):
    values = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :].lstrip()
        name, equals, value = line.partition("=")
        name, value = name.strip(), value.strip()
        if not equals or not name.isidentifier():
            raise ValueError(f"line {number}: expected NAME=value, got {raw!r}")
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[name] = value
    return values


def load(path=DEFAULT):
    """Fill the environment from ``path`` (if it exists) without overriding what is set; return the names set."""
    path = Path(path)
    if not path.is_file():
        return []
    try:
        values = parse(path.read_text())
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None
    filled = [name for name in values if name not in os.environ]
    for name in filled:
        os.environ[name] = values[name]
    return filled


def write_local(path=DEFAULT):
    """Write a local development ``.env`` at ``path`` unless one exists; True when written."""
    path = Path(path)
    if path.exists():
        return False
    lines = [
        "# Written by `make run` for local development (git-ignored; never commit it). See .env.example.",
        f"SECRET_KEY={secrets.token_urlsafe(50)}",
        *(f"{name}={value}" for name, value in LOCAL.items()),
    ]
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)  # it holds the secret key
    return True


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT
    if write_local(target):
        print(f"wrote {target} (SECRET_KEY generated, DEBUG=true, local PostgreSQL and Redis)")
