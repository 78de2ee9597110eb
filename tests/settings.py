"""Settings for the test suite: Kirby's own, with Redis on a database of its own.

Tests start real Celery workers and streams that take leases and queue
tasks in Redis; keeping them in Redis database 15 means a developer's
running Kirby (database 0) and the tests never see each other's keys.
"""

import os

# A developer's .env (make run writes one) must not reach the tests, nor the servers they start.
os.environ["KIRBY_ENV_FILE"] = "none"

from kirby.settings import *  # noqa: E402, F403

REDIS_URL = os.environ.get("KIRBY_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
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
# A real second database for the training alias: TRAINING_DATABASE_URL when set, else the
# default database's name + "_training" on the same server (pytest-django creates "test_<name>"
# for every alias a test asks for with databases=[...]).
if "training" not in DATABASES:  # noqa: F405
    _default = DATABASES["default"]  # noqa: F405
    DATABASES["training"] = {  # noqa: F405
        **_default,
        "NAME": f"{_default['NAME']}_training",
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
