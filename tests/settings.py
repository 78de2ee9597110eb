"""Settings for the test suite: Kirby's own, with Redis on a database of its own.

Tests start real Celery workers and streams that take leases and queue
tasks in Redis; keeping them in Redis databases of their own (14, and 15 for
the second pytest-xdist worker) means a developer's running Kirby (database 0)
and the tests never see each other's keys.
"""

import os
from urllib.parse import urlsplit, urlunsplit

from django.conf import global_settings

# A developer's .env (make run writes one) must not reach the tests, nor the servers they start.
os.environ["KIRBY_ENV_FILE"] = "none"

from kirby.settings import *  # noqa: E402, F403

# Redis has 16 databases (0-15): the default base leaves 14 and 15 to the two workers `make test` runs.
DEFAULT_TEST_REDIS_URL = "redis://127.0.0.1:6379/14"


def worker_redis_url(base_url, worker):
    """The Redis URL of one pytest-xdist worker: the base URL's database + the worker's index (gw0 keeps it).

    Each worker flushes its database at the start of its session and runs its own Celery workers and
    streams, so two workers must never share one.
    """
    parts = urlsplit(base_url)
    database = int(parts.path.strip("/") or 0) + int(worker.removeprefix("gw"))
    if database > 15:
        raise RuntimeError(
            f"pytest-xdist worker {worker} would use Redis database {database} (Redis has 0-15): "
            "run fewer workers (-n) or set KIRBY_TEST_REDIS_URL to a lower database"
        )
    return urlunsplit(parts._replace(path=f"/{database}"))


# The worker's URL is written back to the environment, marked with the worker it was derived for, so the
# servers a test starts (which read these settings too) use the same database instead of deriving again.
_worker = os.environ.get("PYTEST_XDIST_WORKER")
if _worker and os.environ.get("KIRBY_TEST_REDIS_WORKER") != _worker:
    os.environ["KIRBY_TEST_REDIS_URL"] = worker_redis_url(
        os.environ.get("KIRBY_TEST_REDIS_URL", DEFAULT_TEST_REDIS_URL), _worker
    )
    os.environ["KIRBY_TEST_REDIS_WORKER"] = _worker
REDIS_URL = os.environ.get("KIRBY_TEST_REDIS_URL", DEFAULT_TEST_REDIS_URL)
for _cache in CACHES.values():  # noqa: F405
    _cache["LOCATION"] = REDIS_URL
CHANNEL_LAYERS["default"]["CONFIG"]["hosts"] = [REDIS_URL]  # noqa: F405
CELERY_BROKER_URL = REDIS_URL
KIRBY_CACHE_URL = REDIS_URL

# Many tests call public endpoints without a key from the same address (127.0.0.1);
# the per-IP limit is tested on its own with a low value.
# A server process started by a test may ask for a low one (KIRBY_TEST_ANON_PER_MINUTE).
KIRBY_RATE_LIMIT_ANON_PER_MINUTE = int(os.environ.get("KIRBY_TEST_ANON_PER_MINUTE", 100_000))
# In-process tests run inside a transaction that a background writer cannot see, so they
# flush usage themselves; server processes started by tests pass a short period in the environment.
KIRBY_USAGE_FLUSH_SECONDS = float(os.environ.get("KIRBY_USAGE_FLUSH_SECONDS", 3600))


def training_name(name, worker):
    """The training database's name beside the default database ``name``.

    pytest-django names a worker's test databases test_<name>_gwN and test_<name>_training_gwN; a
    process a test starts is given the first (DATABASE_URL) and must find the second.
    """
    suffix = f"_{worker}" if worker else ""
    if suffix and name.endswith(suffix):
        return f"{name.removesuffix(suffix)}_training{suffix}"
    return f"{name}_training"


# A real second database for the training alias: TRAINING_DATABASE_URL when set, else the
# default database's name + "_training" on the same server (pytest-django creates "test_<name>"
# for every alias a test asks for with databases=[...]).
if "training" not in DATABASES:  # noqa: F405
    _default = DATABASES["default"]  # noqa: F405
    DATABASES["training"] = {  # noqa: F405
        **_default,
        "NAME": training_name(_default["NAME"], _worker),
        "OPTIONS": {k: v for k, v in _default["OPTIONS"].items() if k != "pool"},
    }
# The schema follows each test's reference data (its path enums), so it is generated for every request.
KIRBY_SCHEMA_CACHE_SECONDS = 0.0
# The recorded exchange data the tests replay is older than the default candle retention; the retention
# tests set their policies themselves.
KIRBY_RETENTION_DAYS = {}
# Backups of a test go to a directory of its own (tests/operations/test_backups.py sets it).
# A process a test starts is given its test's directory in KIRBY_TEST_BACKUP_TARGET.
KIRBY_BACKUP_TARGET = os.environ.get("KIRBY_TEST_BACKUP_TARGET") or os.path.join(
    os.environ.get("TMPDIR", "/tmp"), f"kirby-test-backups-{os.getpid()}"
)
# The suite commits thousands of short transactions and never needs them to survive a crash of the
# server: not waiting for each WAL flush makes it markedly faster (the server's own default is kept).
for _database in DATABASES.values():  # noqa: F405
    _database["OPTIONS"].setdefault("options", "-c synchronous_commit=off")
# Production-strength password hashing (PBKDF2, a million iterations) takes most of a second per user or
# login here and is nothing the tests look at: the tests' users get a fast hasher first (the others stay
# accepted, for users made by a process running Kirby's own settings).
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher", *global_settings.PASSWORD_HASHERS]
