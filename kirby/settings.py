"""Kirby settings. Every value comes from the environment (see .env.example).

A local ``.env`` (``make run`` writes one on first use) fills in what the
environment does not set; ``KIRBY_ENV_FILE`` names another file, or ``none``.
"""

import os
from pathlib import Path

from lib import envfile
from lib.env import (
    ConfigError,
    database_from_url,
    database_from_url_value,
    env_bool,
    env_days,
    env_float,
    env_int,
    env_list,
    env_str,
)
from lib.tasks import beat_entry
from lib.version import VERSION

BASE_DIR = Path(__file__).resolve().parent.parent
_ENV_FILE = os.environ.get("KIRBY_ENV_FILE") or str(BASE_DIR / ".env")
if _ENV_FILE.lower() != "none":
    try:
        envfile.load(_ENV_FILE)
    except ValueError as error:
        raise ConfigError(f"KIRBY_ENV_FILE: {error}") from None

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ConfigError("SECRET_KEY is required when DEBUG is off (set DEBUG=true for local development)")
    SECRET_KEY = "insecure-development-key-only-used-with-DEBUG"
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
# Behind a proxy that terminates TLS and always sets X-Forwarded-Proto (deploy/nginx does): Django then
# knows which requests came over HTTPS, and its session and CSRF cookies travel only over HTTPS.
KIRBY_BEHIND_TLS_PROXY = env_bool("KIRBY_BEHIND_TLS_PROXY", False)
if KIRBY_BEHIND_TLS_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env_bool("KIRBY_SECURE_COOKIES", KIRBY_BEHIND_TLS_PROXY)

INSTALLED_APPS = [
    "daphne",
    "apps.operations.admin_config.KirbyAdminConfig",  # django.contrib.admin, branded, with the status summary
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "channels",
    "corsheaders",
    # Its abstract key model is the base of apps.access's; its own concrete model is unused.
    "rest_framework_api_key",
    "apps.access",
    "apps.markets",
    "apps.marketdata",
    "apps.collectors",
    "apps.streaming",
    "apps.operations",
    "apps.backfill",
    "django_prometheus",
]

MIDDLEWARE = [
    # Request counts and latency for /metrics (django-prometheus): first and last.
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    # Before the key check: a browser's preflight (OPTIONS) carries no key and is answered here.
    "corsheaders.middleware.CorsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "apps.access.middleware.ApiAccessMiddleware",
    # After the key check (its reads and writes stay on the primary): the read API's views read from replicas.
    "kirby.replica_middleware.ReplicaReadsMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "kirby.urls"
WSGI_APPLICATION = "kirby.wsgi.application"
ASGI_APPLICATION = "kirby.asgi.application"
# Paths work with and without a trailing slash (API.md); routes say so themselves.
APPEND_SLASH = False

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

_DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/kirby"
DATABASES = {"default": database_from_url("DATABASE_URL", _DEFAULT_DB)}
# Django's PostgreSQL backend with query counts and durations for /metrics (django-prometheus).
DATABASES["default"]["ENGINE"] = "django_prometheus.db.backends.postgresql"
# psycopg's pool instead of persistent connections: under ASGI every request
# thread would otherwise keep its own connection and exhaust the server.
if env_bool("KIRBY_DB_POOL", True):
    DATABASES["default"]["OPTIONS"]["pool"] = {
        "min_size": env_int("KIRBY_DB_POOL_MIN_SIZE", 1, minimum=0),
        "max_size": env_int("KIRBY_DB_POOL_MAX_SIZE", 10, minimum=1),
        "timeout": env_int("KIRBY_DB_POOL_TIMEOUT", 10, minimum=1),
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# The training database: historical-only "training stars" (config/training_stars.yaml), the
# same schema as default. Unset: no "training" alias, and commands that need it say so.
if env_str("TRAINING_DATABASE_URL"):
    DATABASES["training"] = database_from_url("TRAINING_DATABASE_URL", None)
# Read replicas (README "Read replicas"): streaming standbys of the default database, comma-separated
# URLs. The read API's queries go to one that is reachable and lags at most KIRBY_REPLICA_MAX_LAG_SECONDS,
# checked in the background every KIRBY_REPLICA_CHECK_SECONDS; with none fit, reads go to the primary.
KIRBY_REPLICA_ALIASES = []
for _index, _url in enumerate(env_list("DATABASE_REPLICA_URLS", []), start=1):
    _replica = database_from_url_value("DATABASE_REPLICA_URLS", _url)
    _replica["ENGINE"] = DATABASES["default"]["ENGINE"]
    _replica["OPTIONS"] = {**DATABASES["default"]["OPTIONS"], **_replica["OPTIONS"]}
    # Tests use the default test database under this alias: nothing is created or migrated for it.
    _replica["TEST"] = {"MIRROR": "default"}
    DATABASES[f"replica{_index}"] = _replica
    KIRBY_REPLICA_ALIASES.append(f"replica{_index}")
# PostgreSQL's JIT compiles a statement whose estimated cost passes jit_above_cost: about 20 ms of server CPU
# each time, for statements that then run in a millisecond (the write path's checks over a day's partitions,
# estimated far above what they read). Off on every connection unless asked for.
if not env_bool("KIRBY_DB_JIT", False):
    for _database in DATABASES.values():
        _options = _database.setdefault("OPTIONS", {})
        _options["options"] = f"{_options.get('options', '')} -c jit=off".strip()
KIRBY_REPLICA_MAX_LAG_SECONDS = env_float("KIRBY_REPLICA_MAX_LAG_SECONDS", 5.0, minimum=0.0)
KIRBY_REPLICA_CHECK_SECONDS = env_float("KIRBY_REPLICA_CHECK_SECONDS", 2.0, minimum=0.1)
# Nothing reaches the training database without an explicit using="training"; replicas serve only
# the read API's reads.
DATABASE_ROUTERS = ["kirby.routers.LiveDatabaseRouter"]

REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": env_str("KIRBY_CACHE_PREFIX", "kirby"),
    },
    # Request counters of the rate limits (django-ratelimit): one Redis round trip per request.
    "ratelimit": {
        "BACKEND": "apps.access.ratecache.CounterRedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": env_str("KIRBY_CACHE_PREFIX", "kirby"),
    },
}
# The response cache of the hot reads (lib/cache.py): its Redis (its own database or instance, with
# maxmemory and maxmemory-policy volatile-lru; README "Response cache"), the safety-net TTL of an entry,
# and the max-age of a window that holds only closed candles in the past (HTTP caching).
KIRBY_CACHE_ENABLED = env_bool("KIRBY_CACHE_ENABLED", True)
KIRBY_CACHE_URL = env_str("KIRBY_CACHE_URL", REDIS_URL)
KIRBY_CACHE_TTL_SECONDS = env_int("KIRBY_CACHE_TTL_SECONDS", 300, minimum=1)
KIRBY_CACHE_IMMUTABLE_MAX_AGE_SECONDS = env_int("KIRBY_CACHE_IMMUTABLE_MAX_AGE_SECONDS", 31_536_000, minimum=0)
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [REDIS_URL], "prefix": env_str("KIRBY_CHANNELS_PREFIX", "kirby-asgi")},
    }
}

CELERY_BROKER_URL = REDIS_URL
# Unrouted tasks go to "default" (Celery would use "celery", which no worker here reads).
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = "UTC"
# Synced into django-celery-beat's tables at beat start; operators can
# change the timing there (or with these variables).
CELERY_BEAT_SCHEDULE = {
    "create-partitions-ahead": beat_entry(
        "apps.marketdata.tasks.create_partitions_ahead",
        env_int("KIRBY_PARTITION_TASK_SECONDS", 86400, minimum=60),
    ),
    "purge-api-usage": beat_entry(
        "apps.access.tasks.purge_api_usage",
        env_int("KIRBY_USAGE_PURGE_SECONDS", 86400, minimum=60),
    ),
    "supervise-streams": beat_entry(
        "apps.collectors.tasks.supervise_streams",
        env_float("KIRBY_COLLECTOR_SUPERVISE_SECONDS", 5.0, minimum=0.5),
    ),
    "purge-export-jobs": beat_entry("apps.marketdata.tasks.purge_export_jobs", 3600.0),
    "sample-status": beat_entry(
        "apps.operations.tasks.sample_status",
        env_float("KIRBY_STATUS_SAMPLE_SECONDS", 30.0, minimum=1.0),
    ),
    "supervise-backfills": beat_entry(
        "apps.backfill.tasks.supervise_backfills",
        env_float("KIRBY_BACKFILL_SUPERVISE_SECONDS", 15.0, minimum=0.5),
    ),
    "enforce-retention": beat_entry(
        "apps.operations.tasks.enforce_retention", env_int("KIRBY_RETENTION_TASK_SECONDS", 86400, minimum=60)
    ),
    "run-backups": beat_entry(
        "apps.operations.tasks.run_backups", env_int("KIRBY_BACKUP_TASK_SECONDS", 86400, minimum=60)
    ),
    "verify-backup": beat_entry(
        "apps.operations.tasks.verify_newest_backup",
        env_int("KIRBY_BACKUP_VERIFY_SECONDS", 7 * 86400, minimum=60),
    ),
    "find-gaps": beat_entry(
        "apps.backfill.tasks.find_gaps",
        env_float("KIRBY_GAP_SCAN_SECONDS", 300.0, minimum=0.5),
    ),
}
# Long work never waits in front of supervision: "default" holds only short periodic tasks
# (read by the worker process), backfill/export/maintenance are read by the jobs process.
CELERY_TASK_ROUTES = {
    "apps.collectors.tasks.run_stream": {"queue": "collectors"},
    "apps.backfill.tasks.run_backfill": {"queue": "backfill"},
    "apps.marketdata.tasks.run_export_job": {"queue": "export"},
    "apps.marketdata.tasks.create_partitions_ahead": {"queue": "maintenance"},
    "apps.marketdata.tasks.purge_export_jobs": {"queue": "maintenance"},
    "apps.access.tasks.purge_api_usage": {"queue": "maintenance"},
    "apps.backfill.tasks.find_gaps": {"queue": "maintenance"},
    "apps.operations.tasks.enforce_retention": {"queue": "maintenance"},
    "apps.operations.tasks.run_backups": {"queue": "maintenance"},
    "apps.operations.tasks.verify_newest_backup": {"queue": "maintenance"},
}
# Redis redelivers a task not acknowledged within the visibility timeout (one hour by default)
# to another worker, though the first still runs it: an acks_late job longer than that (exports
# and backfills may run six hours) would run twice. Kept above the longest task time limit.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env_int("KIRBY_CELERY_VISIBILITY_TIMEOUT_SECONDS", 7 * 3600, minimum=60)
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("KIRBY_STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]

REST_FRAMEWORK = {
    # API keys, scopes and rate limits are enforced by apps.access.middleware for
    # every view (REST and plain Django alike); DRF's own authentication stays off.
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "lib.http.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "lib.http.schema.KirbyAutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Kirby API",
    "DESCRIPTION": "Cryptocurrency market data: candles, funding rates, open interest.",
    "VERSION": VERSION,
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "PREPROCESSING_HOOKS": ["lib.http.schema.document_paths_without_trailing_slash"],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "apps.markets.api.schema.describe_series_paths",
    ],
    "APPEND_COMPONENTS": {
        "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer", "description": "Authorization: Bearer kb_..."},
            "apiKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
        }
    },
    "SECURITY": [{"bearer": []}, {"apiKeyHeader": []}],
}

# Kirby's own settings.
KIRBY_STARLISTINGS_FILE = Path(env_str("KIRBY_STARLISTINGS_FILE", str(BASE_DIR / "config" / "starlistings.yaml")))
# Monthly partitions are created this many months ahead of now by a daily task.
KIRBY_PARTITION_MONTHS_AHEAD = env_int("KIRBY_PARTITION_MONTHS_AHEAD", 3, minimum=1, maximum=24)

KIRBY_TRAINING_STARS_FILE = Path(env_str("KIRBY_TRAINING_STARS_FILE", str(BASE_DIR / "config" / "training_stars.yaml")))

# Exports (manage.py export, /export, export jobs). Job files are written under this directory
# and their signed download links expire after KIRBY_EXPORT_LINK_SECONDS.
KIRBY_EXPORT_DIR = Path(env_str("KIRBY_EXPORT_DIR", str(BASE_DIR / "exports")))
KIRBY_EXPORT_LINK_SECONDS = env_int("KIRBY_EXPORT_LINK_SECONDS", 86400, minimum=1)
# Finished export jobs and their files are deleted this many hours after they end (checked hourly).
KIRBY_EXPORT_RETENTION_HOURS = env_int("KIRBY_EXPORT_RETENTION_HOURS", 168, minimum=1)
# Rows per Parquet row group: memory grows with it, readers like it large.
KIRBY_EXPORT_ROW_GROUP_ROWS = env_int("KIRBY_EXPORT_ROW_GROUP_ROWS", 131072, minimum=1)
# POST /exports: queued or running jobs per API key; a job fails once it has read more rows, or
# more bytes of CSV text, than these (counted over all its files).
KIRBY_EXPORT_MAX_ACTIVE_JOBS_PER_KEY = env_int("KIRBY_EXPORT_MAX_ACTIVE_JOBS_PER_KEY", 3, minimum=1)
KIRBY_EXPORT_JOB_MAX_ROWS = env_int("KIRBY_EXPORT_JOB_MAX_ROWS", 100_000_000, minimum=1)
KIRBY_EXPORT_JOB_MAX_BYTES = env_int("KIRBY_EXPORT_JOB_MAX_BYTES", 20 * 2**30, minimum=1)
# GET /export streams at most this many rows (larger windows get a 400 pointing to POST /exports)
# and for at most this many seconds (below the web server's timeout), then cuts the transfer.
KIRBY_EXPORT_SYNC_MAX_ROWS = env_int("KIRBY_EXPORT_SYNC_MAX_ROWS", 1_000_000, minimum=1)
KIRBY_EXPORT_SYNC_MAX_SECONDS = env_float("KIRBY_EXPORT_SYNC_MAX_SECONDS", 50.0, minimum=0.001)

# Series name lookups of the read API are cached this long per process.
KIRBY_SERIES_CACHE_SECONDS = env_float("KIRBY_SERIES_CACHE_SECONDS", 2.0, minimum=0.0)
# /api/schema/ is public and costs about 30 ms to generate: each process keeps the document this long.
KIRBY_SCHEMA_CACHE_SECONDS = env_float("KIRBY_SCHEMA_CACHE_SECONDS", 60.0, minimum=0.0)

# Collectors. Exchange endpoints can point anywhere (the simulator in tests).
KIRBY_HYPERLIQUID_WS_URL = env_str("KIRBY_HYPERLIQUID_WS_URL", "wss://api.hyperliquid.xyz/ws")
KIRBY_HYPERLIQUID_REST_URL = env_str("KIRBY_HYPERLIQUID_REST_URL", "https://api.hyperliquid.xyz/info")
# Binance REST history (training backfill): spot klines and USD-M futures klines.
KIRBY_BINANCE_SPOT_REST_URL = env_str("KIRBY_BINANCE_SPOT_REST_URL", "https://data-api.binance.vision")
KIRBY_BINANCE_USDM_REST_URL = env_str("KIRBY_BINANCE_USDM_REST_URL", "https://fapi.binance.com")
# Longest wait the Binance client accepts on a 429/418 before giving up on the page (seconds).
KIRBY_BINANCE_MAX_BACKOFF_SECONDS = env_float("KIRBY_BINANCE_MAX_BACKOFF_SECONDS", 120.0, minimum=0.0)
# Binance live streams (combined-stream endpoints; klines and markPrice live on USD-M's /market route).
KIRBY_BINANCE_USDM_WS_URL = env_str("KIRBY_BINANCE_USDM_WS_URL", "wss://fstream.binance.com/market/stream")
KIRBY_BINANCE_SPOT_WS_URL = env_str("KIRBY_BINANCE_SPOT_WS_URL", "wss://stream.binance.com:9443/stream")
# USD-M order-book depth lives on its own high-frequency route (/public), not on /market.
KIRBY_BINANCE_USDM_PUBLIC_WS_URL = env_str(
    "KIRBY_BINANCE_USDM_PUBLIC_WS_URL", "wss://fstream.binance.com/public/stream"
)
# Binance allows 1024 streams per connection; Kirby stays well below.
KIRBY_BINANCE_STREAMS_PER_CONNECTION = env_int("KIRBY_BINANCE_STREAMS_PER_CONNECTION", 200, minimum=1, maximum=1024)
# Binance ends a connection after 24 hours; Kirby opens its replacement this long after connecting (23.5 h).
KIRBY_BINANCE_CONNECTION_SECONDS = env_float("KIRBY_BINANCE_CONNECTION_SECONDS", 84_600.0, minimum=1.0)
# Open interest has no Binance stream: GET /fapi/v1/openInterest per perpetual this often.
KIRBY_BINANCE_OPEN_INTEREST_POLL_SECONDS = env_float("KIRBY_BINANCE_OPEN_INTEREST_POLL_SECONDS", 60.0, minimum=0.1)
# Bybit V5: the public WebSocket base (the category path /linear or /spot is appended) and REST.
KIRBY_BYBIT_WS_URL = env_str("KIRBY_BYBIT_WS_URL", "wss://stream.bybit.com/v5/public")
KIRBY_BYBIT_REST_URL = env_str("KIRBY_BYBIT_REST_URL", "https://api.bybit.com")
# OKX V5: the public WebSocket (funding, open interest, mark prices), the business one (candles), REST.
KIRBY_OKX_WS_URL = env_str("KIRBY_OKX_WS_URL", "wss://ws.okx.com:8443/ws/v5/public")
KIRBY_OKX_BUSINESS_WS_URL = env_str("KIRBY_OKX_BUSINESS_WS_URL", "wss://ws.okx.com:8443/ws/v5/business")
KIRBY_OKX_REST_URL = env_str("KIRBY_OKX_REST_URL", "https://www.okx.com")
# Coinbase Advanced Trade: the public market-data WebSocket and the public REST base.
KIRBY_COINBASE_WS_URL = env_str("KIRBY_COINBASE_WS_URL", "wss://advanced-trade-ws.coinbase.com")
KIRBY_COINBASE_REST_URL = env_str("KIRBY_COINBASE_REST_URL", "https://api.coinbase.com")
# A candle built from Coinbase trades closes this long after its interval ends (trades arrive batched).
KIRBY_COINBASE_CLOSE_GRACE_SECONDS = env_float("KIRBY_COINBASE_CLOSE_GRACE_SECONDS", 2.0, minimum=0.0)
# Hyperliquid allows 1000 subscriptions per IP over at most 10 connections.
KIRBY_HYPERLIQUID_SUBSCRIPTIONS_PER_CONNECTION = env_int(
    "KIRBY_HYPERLIQUID_SUBSCRIPTIONS_PER_CONNECTION", 200, minimum=1, maximum=1000
)
# Seconds between client pings; a stream silent for KIRBY_COLLECTOR_QUIET_SECONDS is reconnected.
KIRBY_COLLECTOR_PING_SECONDS = env_float("KIRBY_COLLECTOR_PING_SECONDS", 20.0, minimum=0.1)
KIRBY_COLLECTOR_QUIET_SECONDS = env_float("KIRBY_COLLECTOR_QUIET_SECONDS", 60.0, minimum=0.5)
# Reconnect backoff: exponential from 0.5 s up to this, with jitter.
KIRBY_COLLECTOR_BACKOFF_MAX_SECONDS = env_float("KIRBY_COLLECTOR_BACKOFF_MAX_SECONDS", 30.0, minimum=0.1)
# Batches are stored when they reach this many rows or this many seconds pass.
KIRBY_COLLECTOR_BATCH_SIZE = env_int("KIRBY_COLLECTOR_BATCH_SIZE", 5000, minimum=1)
KIRBY_COLLECTOR_FLUSH_SECONDS = env_float("KIRBY_COLLECTOR_FLUSH_SECONDS", 1.0, minimum=0.05)
# Longest a collector's write waits for a database connection before its batch goes to the Redis spool.
KIRBY_COLLECTOR_CONNECT_SECONDS = env_float("KIRBY_COLLECTOR_CONNECT_SECONDS", 1.0, minimum=0.05)
# Running streams re-read the active starlistings this often (changes apply without restart).
KIRBY_COLLECTOR_REFRESH_SECONDS = env_float("KIRBY_COLLECTOR_REFRESH_SECONDS", 30.0, minimum=0.5)
# A stream's lease in Redis lapses this long after its holder stops renewing it.
KIRBY_COLLECTOR_LEASE_SECONDS = env_float("KIRBY_COLLECTOR_LEASE_SECONDS", 10.0, minimum=1.0)
# A stream's time limit: it then ends itself (the threads pool cannot enforce Celery's) and is started afresh.
KIRBY_COLLECTOR_STREAM_LIFETIME_SECONDS = env_float("KIRBY_COLLECTOR_STREAM_LIFETIME_SECONDS", 86400.0, minimum=1.0)
# Funding / open interest are stored as one row per pair per this many seconds (1.x: a minute).
KIRBY_CONTEXT_PERIOD_SECONDS = env_float("KIRBY_CONTEXT_PERIOD_SECONDS", 60.0, minimum=0.1)
# The write path sets aside (dead-letter table) rows dated before this year or after the end of
# this many years from now: a stray timestamp must not create a partition for every month between.
KIRBY_RECORD_EARLIEST_YEAR = env_int("KIRBY_RECORD_EARLIEST_YEAR", 2009, minimum=1970)
KIRBY_RECORD_YEARS_AHEAD = env_int("KIRBY_RECORD_YEARS_AHEAD", 1, minimum=0)

# WebSocket stream (/ws). Over a limit a client gets an error message, not a closed socket,
# except a client too slow to read what it asked for: it is closed (code 4008).
KIRBY_WS_HEARTBEAT_SECONDS = env_float("KIRBY_WS_HEARTBEAT_SECONDS", 30.0, minimum=0.1)
# A current book its collector has not published for this long is not in sync (REST 503, /ws, status): a
# collector killed cannot say so itself. The collector republishes an unchanged book well within it.
KIRBY_BOOK_STALE_SECONDS = env_float("KIRBY_BOOK_STALE_SECONDS", 5.0, minimum=1.0)
# Order books on the ``orderbook`` channel: the newest book at most this many times a second per client.
KIRBY_WS_BOOK_HZ = env_float("KIRBY_WS_BOOK_HZ", 10.0, minimum=0.1)
KIRBY_WS_MAX_IDS_PER_MESSAGE = env_int("KIRBY_WS_MAX_IDS_PER_MESSAGE", 100, minimum=1)
KIRBY_WS_MAX_SUBSCRIPTIONS = env_int("KIRBY_WS_MAX_SUBSCRIPTIONS", 500, minimum=1)
KIRBY_WS_MAX_MESSAGE_BYTES = env_int("KIRBY_WS_MAX_MESSAGE_BYTES", 65536, minimum=256)
# A client frame or message above this drops the connection as soon as its header says so, unread
# (Daphne 4.2's own default cap is 1 MiB; this one holds however Daphne is started).
KIRBY_WS_MAX_FRAME_BYTES = env_int("KIRBY_WS_MAX_FRAME_BYTES", 131072, minimum=1024)
KIRBY_WS_RATE_PER_SECOND = env_float("KIRBY_WS_RATE_PER_SECOND", 20.0, minimum=0.01)
KIRBY_WS_RATE_BURST = env_int("KIRBY_WS_RATE_BURST", 40, minimum=1)
KIRBY_WS_SEND_QUEUE = env_int("KIRBY_WS_SEND_QUEUE", 1000, minimum=1)
# ... and at most this many bytes of frames (a history frame is ~150 KB): past either it is closed.
KIRBY_WS_MAX_QUEUED_BYTES = env_int("KIRBY_WS_MAX_QUEUED_BYTES", 4 * 2**20, minimum=1024)
# Under Daphne, frames go straight to its transport (apps/streaming/daphne_fastpath.py); off: ASGI send.
KIRBY_WS_DAPHNE_FASTPATH = env_bool("KIRBY_WS_DAPHNE_FASTPATH", True)
# Messages a web process's channel-layer inbox holds before channels_redis drops new ones
# (its default of 100 loses live rows when a collector batch touches many subscribed groups).
KIRBY_WS_LAYER_CAPACITY = env_int("KIRBY_WS_LAYER_CAPACITY", 10000, minimum=100)
CHANNEL_LAYERS["default"]["CONFIG"]["capacity"] = KIRBY_WS_LAYER_CAPACITY

# Access: API keys, scopes, rate limits, usage (apps/access; API.md "Authentication").
# Off: no key is asked for data and nothing is rate-limited (a private deployment); the admin API
# keeps requiring an admin key. With DEBUG off, off needs KIRBY_AUTH_DISABLED_I_UNDERSTAND=true too.
KIRBY_AUTH_REQUIRED = env_bool("KIRBY_AUTH_REQUIRED", True)
KIRBY_AUTH_DISABLED_I_UNDERSTAND = env_bool("KIRBY_AUTH_DISABLED_I_UNDERSTAND", False)
if not KIRBY_AUTH_REQUIRED and not DEBUG and not KIRBY_AUTH_DISABLED_I_UNDERSTAND:
    raise ConfigError(
        "KIRBY_AUTH_REQUIRED=false with DEBUG off opens every data endpoint to anyone:"
        " set KIRBY_AUTH_DISABLED_I_UNDERSTAND=true to confirm"
    )
# /health per client address and minute (no key needed; generous for load balancers).
KIRBY_HEALTH_RATE_LIMIT_PER_MINUTE = env_int("KIRBY_HEALTH_RATE_LIMIT_PER_MINUTE", 600, minimum=1)
KIRBY_RATE_LIMIT_ENABLED = env_bool("KIRBY_RATE_LIMIT_ENABLED", True)
# Requests per minute: per key (a key's own rate_limit overrides it), per IP without a valid key.
KIRBY_RATE_LIMIT_PER_MINUTE = env_int("KIRBY_RATE_LIMIT_PER_MINUTE", 100, minimum=1)
KIRBY_RATE_LIMIT_ANON_PER_MINUTE = env_int("KIRBY_RATE_LIMIT_ANON_PER_MINUTE", 30, minimum=1)
# Open /ws connections per key, counted across all web processes.
KIRBY_WS_MAX_CONNECTIONS_PER_KEY = env_int("KIRBY_WS_MAX_CONNECTIONS_PER_KEY", 5, minimum=1)
# Admin and unlimited keys have no request limit but still a (higher) cap on open /ws connections.
KIRBY_WS_MAX_CONNECTIONS_PER_UNLIMITED_KEY = env_int("KIRBY_WS_MAX_CONNECTIONS_PER_UNLIMITED_KEY", 1000, minimum=1)
# An open /ws connection re-reads its key this often (a revoked key is closed by then).
KIRBY_WS_KEY_RECHECK_SECONDS = env_float("KIRBY_WS_KEY_RECHECK_SECONDS", 30.0, minimum=0.1)
# A verified key is trusted by a web process for this long before it is read again.
KIRBY_API_KEY_CACHE_SECONDS = env_float("KIRBY_API_KEY_CACHE_SECONDS", 10.0, minimum=0.0)
# Usage rows are written in batches this often, and kept this many days.
KIRBY_USAGE_FLUSH_SECONDS = env_float("KIRBY_USAGE_FLUSH_SECONDS", 2.0, minimum=0.05)
KIRBY_USAGE_RETENTION_DAYS = env_int("KIRBY_USAGE_RETENTION_DAYS", 90, minimum=1)
# The request header holding the client's address behind a proxy (e.g. X-Real-IP); empty: the socket peer.
KIRBY_CLIENT_IP_HEADER = env_str("KIRBY_CLIENT_IP_HEADER", "")
RATELIMIT_USE_CACHE = "ratelimit"

# Backfills and the gap ledger (apps/backfill).
# Depth of the history fetched for new starlistings / pairs and by admin actions, in days.
KIRBY_BACKFILL_DAYS = env_int("KIRBY_BACKFILL_DAYS", 365, minimum=1)
KIRBY_BACKFILL_NEW_SERIES = env_bool("KIRBY_BACKFILL_NEW_SERIES", True)
# Failed runs are retried after KIRBY_BACKFILL_RETRY_SECONDS x 2^(attempt-1), up to this many runs.
KIRBY_BACKFILL_MAX_ATTEMPTS = env_int("KIRBY_BACKFILL_MAX_ATTEMPTS", 5, minimum=1)
KIRBY_BACKFILL_RETRY_SECONDS = env_float("KIRBY_BACKFILL_RETRY_SECONDS", 10.0, minimum=0.0)
KIRBY_BACKFILL_MAX_429_IN_A_ROW = env_int("KIRBY_BACKFILL_MAX_429_IN_A_ROW", 30, minimum=1)
# A history candle counts as closed once its interval ended this long ago by our clock: a clock a
# few seconds ahead of the exchange's must not store a candle still forming as final.
KIRBY_BACKFILL_CLOCK_MARGIN_SECONDS = env_float("KIRBY_BACKFILL_CLOCK_MARGIN_SECONDS", 5.0, minimum=0.0)
# POST /backfills: queued or running jobs per API key (jobs from gaps and new series are not counted).
KIRBY_BACKFILL_MAX_ACTIVE_JOBS_PER_KEY = env_int("KIRBY_BACKFILL_MAX_ACTIVE_JOBS_PER_KEY", 5, minimum=1)
# A running job's lease lapses this long after its worker dies; queued jobs this old are re-sent.
KIRBY_BACKFILL_LEASE_SECONDS = env_float("KIRBY_BACKFILL_LEASE_SECONDS", 30.0, minimum=1.0)
KIRBY_BACKFILL_REQUEUE_SECONDS = env_float("KIRBY_BACKFILL_REQUEUE_SECONDS", 600.0, minimum=1.0)
# Shared REST budget per exchange (request weight per minute; Hyperliquid allows 1200 per IP,
# Binance USD-M futures 2400), of which BURST_SECONDS' worth may be spent at once.
KIRBY_REST_WEIGHT_PER_MINUTE = {
    "hyperliquid": env_int("KIRBY_HYPERLIQUID_REST_WEIGHT_PER_MINUTE", 600, minimum=1),
    "binance": env_int("KIRBY_BINANCE_REST_WEIGHT_PER_MINUTE", 1200, minimum=1),
    # Bybit allows 600 requests per 5 s per IP (7200 a minute); every market-data request weighs 1.
    "bybit": env_int("KIRBY_BYBIT_REST_WEIGHT_PER_MINUTE", 1200, minimum=1),
    # OKX limits each endpoint per 2 s (history-candles 20, funding and open-interest history 10); the adapter
    # weighs the slower ones 2, so 600 a minute keeps every endpoint at half its limit or less.
    "okx": env_int("KIRBY_OKX_REST_WEIGHT_PER_MINUTE", 600, minimum=1),
    # Coinbase allows 10 public REST requests per second per IP; every candles request weighs 1.
    "coinbase": env_int("KIRBY_COINBASE_REST_WEIGHT_PER_MINUTE", 300, minimum=1),
}
# After a 429 everyone pauses this long and the rate halves, doubling back every RECOVERY seconds.
KIRBY_REST_BURST_SECONDS = env_float("KIRBY_REST_BURST_SECONDS", 10.0, minimum=0.0)
KIRBY_REST_429_PAUSE_SECONDS = env_float("KIRBY_REST_429_PAUSE_SECONDS", 5.0, minimum=0.0)
KIRBY_REST_RECOVERY_SECONDS = env_float("KIRBY_REST_RECOVERY_SECONDS", 60.0, minimum=0.1)
# Gap scan: how far back, how long a slot must have ended before it counts as missing,
# open-interest periods without a row that make a gap, repair attempts before giving up.
KIRBY_GAP_LOOKBACK_HOURS = env_float("KIRBY_GAP_LOOKBACK_HOURS", 48.0, minimum=0.01)
KIRBY_GAP_SETTLE_SECONDS = env_float("KIRBY_GAP_SETTLE_SECONDS", 120.0, minimum=0.0)
KIRBY_GAP_OI_SLACK_PERIODS = env_int("KIRBY_GAP_OI_SLACK_PERIODS", 3, minimum=1)
KIRBY_GAP_REPAIR_ATTEMPTS = env_int("KIRBY_GAP_REPAIR_ATTEMPTS", 3, minimum=1)
# /health reports each starlisting's completeness over this many hours.
KIRBY_COMPLETENESS_WINDOW_HOURS = env_float("KIRBY_COMPLETENESS_WINDOW_HOURS", 24.0, minimum=0.01)

# Observability (apps/operations: /api/status, /dashboard, /metrics; README "Observability").
# When set, /metrics answers only requests with "Authorization: Bearer <token>".
KIRBY_METRICS_TOKEN = env_str("KIRBY_METRICS_TOKEN", "")
# Celery workers (and beat) serve their own /metrics on this port; 0: none.
KIRBY_METRICS_PORT = env_int("KIRBY_METRICS_PORT", 0, minimum=0, maximum=65535)
# The dashboard page fetches the status document this often (seconds).
KIRBY_DASHBOARD_REFRESH_SECONDS = env_float("KIRBY_DASHBOARD_REFRESH_SECONDS", 10.0, minimum=0.2)
# The dashboard's plots and the database growth are sampled this often (seconds).
KIRBY_STATUS_SAMPLE_SECONDS = env_float("KIRBY_STATUS_SAMPLE_SECONDS", 30.0, minimum=1.0)
# A candle may arrive this many seconds after its interval began before its series counts as late.
KIRBY_STATUS_FRESHNESS_GRACE_SECONDS = env_float("KIRBY_STATUS_FRESHNESS_GRACE_SECONDS", 30.0, minimum=0.0)
# Workers report every KIRBY_STATUS_WORKER_SECONDS; beat is late after KIRBY_STATUS_BEAT_STALE_SECONDS without a run.
KIRBY_STATUS_WORKER_SECONDS = env_float("KIRBY_STATUS_WORKER_SECONDS", 10.0, minimum=0.1)
KIRBY_STATUS_BEAT_STALE_SECONDS = env_float("KIRBY_STATUS_BEAT_STALE_SECONDS", 60.0, minimum=1.0)
# Queued tasks above which a Celery queue counts as backed up (amber).
KIRBY_STATUS_QUEUE_BACKLOG = env_int("KIRBY_STATUS_QUEUE_BACKLOG", 100, minimum=1)
# A queue that grew by KIRBY_STATUS_QUEUE_GROWTH tasks within KIRBY_STATUS_QUEUE_GROWTH_SECONDS is amber,
# and red once it is also above the backlog: the workers fall behind.
KIRBY_STATUS_QUEUE_GROWTH = env_int("KIRBY_STATUS_QUEUE_GROWTH", 20, minimum=1)
KIRBY_STATUS_QUEUE_GROWTH_SECONDS = env_float("KIRBY_STATUS_QUEUE_GROWTH_SECONDS", 180.0, minimum=1.0)

# Retention and backups (README "Retention", "Backups and restore"). Days kept per policy until an operator
# edits it in the admin: candles:<interval>, funding, open_interest, trades, orderbook (not listed: forever).
# api_usage and export_files default to KIRBY_USAGE_RETENTION_DAYS and KIRBY_EXPORT_RETENTION_HOURS, backups
# to forever.
KIRBY_RETENTION_DAYS = env_days(
    "KIRBY_RETENTION_DAYS",
    "candles:1m=365,candles:3m=365,candles:5m=730,candles:15m=1095,candles:30m=1095,trades=30,orderbook=7",
)
# Enforced daily (KIRBY_RETENTION_TASK_SECONDS, queue maintenance); a shared partition loses its
# policy's rows in batches with pauses.
KIRBY_RETENTION_BATCH_ROWS = env_int("KIRBY_RETENTION_BATCH_ROWS", 5000, minimum=1)
KIRBY_RETENTION_PAUSE_SECONDS = env_float("KIRBY_RETENTION_PAUSE_SECONDS", 0.2, minimum=0.0)
# Backups (daily: KIRBY_BACKUP_TASK_SECONDS; restore check weekly: KIRBY_BACKUP_VERIFY_SECONDS) go to a
# directory, or to s3://bucket/prefix with KIRBY_BACKUP_S3_* and the AWS_* credentials of the environment.
KIRBY_BACKUP_TARGET = env_str("KIRBY_BACKUP_TARGET", str(BASE_DIR / "var" / "backups"))
KIRBY_BACKUP_S3_ENDPOINT_URL = env_str("KIRBY_BACKUP_S3_ENDPOINT_URL", "")
KIRBY_BACKUP_S3_REGION = env_str("KIRBY_BACKUP_S3_REGION", "us-east-1")
KIRBY_BACKUP_VERIFY_SECONDS = env_int("KIRBY_BACKUP_VERIFY_SECONDS", 7 * 86400, minimum=60)
KIRBY_BACKUP_DATABASES = env_list("KIRBY_BACKUP_DATABASES", ["default", "training"])
# A partition whose month ended this many days ago is sealed: dumped once, then referenced while unchanged.
KIRBY_BACKUP_SEAL_DAYS = env_float("KIRBY_BACKUP_SEAL_DAYS", 3.0, minimum=0.0)
# Grandfather-father-son rotation: newest backup of each of the last N days, weeks and months.
KIRBY_BACKUP_KEEP_DAILY = env_int("KIRBY_BACKUP_KEEP_DAILY", 7, minimum=1)
KIRBY_BACKUP_KEEP_WEEKLY = env_int("KIRBY_BACKUP_KEEP_WEEKLY", 4, minimum=0)
KIRBY_BACKUP_KEEP_MONTHLY = env_int("KIRBY_BACKUP_KEEP_MONTHLY", 12, minimum=0)
# Multipart upload part size for S3 targets (MiB; S3's minimum is 5).
KIRBY_BACKUP_PART_MB = env_int("KIRBY_BACKUP_PART_MB", 16, minimum=5)
# Kirby 1.x compatibility (README "Moving from Kirby 1.x").
# Browser origins allowed to call the REST API (CORS; 1.x's defaults). Credentials allowed, as 1.x did.
CORS_ALLOWED_ORIGINS = env_list("KIRBY_CORS_ALLOWED_ORIGINS", ["http://localhost:3000", "http://localhost:8080"])
CORS_ALLOW_CREDENTIALS = True
# Linked from the admin's index page (docker-compose runs Grafana there); empty: no link.
KIRBY_GRAFANA_URL = env_str("KIRBY_GRAFANA_URL", "http://127.0.0.1:3000/")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain"},
        # The latest errors of every process, for /api/status and the dashboard.
        "recent": {"class": "apps.operations.errorlog.RecentErrorsHandler", "level": "ERROR"},
    },
    "root": {"handlers": ["console", "recent"], "level": env_str("KIRBY_LOG_LEVEL", "INFO")},
}
