"""Kirby's own Prometheus metrics (``kirby_*``), defined in one place.

Every value is in base units (seconds, rows, messages); labels are few and
bounded (exchange, record type, stream name, state), never key ids or times.
Code that does the work calls the helpers below at the single place where
the thing happens, per batch rather than per message on hot paths.

Processes: web processes serve ``/metrics`` (apps.operations.views.metrics);
Celery workers serve their own on ``KIRBY_METRICS_PORT``
(apps.operations.metrics_server). With ``PROMETHEUS_MULTIPROC_DIR`` set
(gunicorn, prefork workers) prometheus_client keeps values in shared files
and the gauges aggregate as their ``multiprocess_mode`` says.
"""

import logging

from prometheus_client import Counter, Gauge, Histogram

from lib.redis import client

log = logging.getLogger(__name__)

# --- collection ------------------------------------------------------------------
MESSAGES_RECEIVED = Counter(
    "kirby_messages_received_total",
    "Exchange messages received by collector streams, by parsed event type (malformed: skipped frames).",
    ["exchange", "type"],
)
BUILT_CANDLES = Counter(
    "kirby_built_candles_total",
    "Closed candles Kirby built from trades (Coinbase), by how they compared with the exchange's REST candle "
    "(equal; differed: REST's values were stored; partial: built from part of the trades, REST stored; "
    "unconfirmed: REST had none, the built candle was stored).",
    ["exchange", "outcome"],
)
LATE_TRADES = Counter(
    "kirby_late_trades_total",
    "Trades that arrived for a built candle already closed: counted, not applied (the candle is not reopened).",
    ["exchange"],
)
RECORDS_WRITTEN = Counter(
    "kirby_records_written_total",
    "Rows inserted or changed by the write path, by source exchange ('' when unnamed) and type.",
    ["exchange", "type"],
)
ROWS_REJECTED = Counter(
    "kirby_rows_rejected_total",
    "Rows refused by the write path (sanity rules, unknown series).",
    ["exchange", "type"],
)
DEAD_LETTERS = Counter(
    "kirby_rows_dead_lettered_total",
    "Rows the write path set aside in the dead-letter table (out of bounds or refused by the database).",
    ["exchange", "type"],
)
FLUSHER_RESTARTS = Counter(
    "kirby_batcher_flusher_restarts_total",
    "Collector batcher flusher loops restarted after an unexpected error.",
    ["exchange"],
)
SPOOLED = Counter(
    "kirby_records_spooled_total",
    "Records kept in the Redis outage spool because the database could not take them.",
    ["type"],
)
REPLAYED = Counter(
    "kirby_records_replayed_total", "Records replayed from the Redis outage spool into the database.", ["type"]
)
USAGE_ROWS_SKIPPED = Counter(
    "kirby_usage_rows_skipped_total", "API key usage rows the database refused; skipped, logging went on."
)
FLUSH_DURATION = Histogram(
    "kirby_batch_flush_duration_seconds",
    "Time to store one batch through the write path (staging, upsert, commit).",
    ["type"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
STREAM_LAST_MESSAGE = Gauge(
    "kirby_stream_last_message_timestamp_seconds",
    "Unix time of the last message a stream received.",
    ["stream"],
    multiprocess_mode="max",
)
STREAM_CONNECTED = Gauge(
    "kirby_stream_connected",
    "1 while a stream holds an open exchange connection.",
    ["stream"],
    multiprocess_mode="livemax",
)
STREAM_RECONNECTS = Counter("kirby_stream_reconnects_total", "Reconnects of collector streams.", ["exchange"])
BOOK_RESYNCS = Counter(
    "kirby_orderbook_resyncs_total",
    "Order-book breaks (sequence gap, crossed book, stale snapshot) that made a book rebuild from a snapshot.",
    ["exchange"],
)
INGEST_LAG = Gauge(
    "kirby_ingest_lag_seconds",
    "Receipt to commit of the oldest record of the latest stored batch.",
    ["exchange"],
    multiprocess_mode="mostrecent",
)

# --- trades and books of the pairs collecting them (/metrics sets them per scrape, from Redis) ---------
TRADES_LAST_MINUTE = Gauge(
    "kirby_trades_stored_last_minute",
    "Trades stored in the last minute, over the active pairs collecting trades.",
    ["exchange"],
    multiprocess_mode="mostrecent",
)
BOOKS_NOT_IN_SYNC = Gauge(
    "kirby_orderbooks_not_in_sync",
    "Books switched on that are not in sync: being rebuilt, not refreshed for 30 s, or never published.",
    ["exchange"],
    multiprocess_mode="mostrecent",
)
_TICK_EXCHANGES = set()


def set_tick_state(trades_by_exchange, books_not_in_sync_by_exchange):
    """{exchange: n} of each; an exchange set before and absent now goes to 0."""
    exchanges = set(trades_by_exchange) | set(books_not_in_sync_by_exchange)
    for exchange in exchanges | _TICK_EXCHANGES:
        TRADES_LAST_MINUTE.labels(exchange).set(trades_by_exchange.get(exchange, 0))
        BOOKS_NOT_IN_SYNC.labels(exchange).set(books_not_in_sync_by_exchange.get(exchange, 0))
    _TICK_EXCHANGES.update(exchanges)


# --- backfill and gaps (written by the backfill app: see the helpers) -------------
GAPS_OPEN = Gauge("kirby_gaps_open", "Gaps in stored series not yet filled.", multiprocess_mode="mostrecent")
BACKFILL_ROWS = Counter("kirby_backfill_rows_total", "Rows stored by backfill jobs.", ["type"])
HISTORY_PAGES = Counter(
    "kirby_history_pages_total",
    "Pages of exchange REST history stored by the history engine, by purpose (job, repair, training).",
    ["purpose", "exchange"],
)
BACKFILL_JOBS = Gauge("kirby_backfill_jobs", "Backfill jobs by state.", ["state"], multiprocess_mode="mostrecent")
BACKFILL_STATES = ("queued", "running", "succeeded", "failed", "cancelled")  # apps.backfill BackfillJob.Status

# --- storage -------------------------------------------------------------------------
DATABASE_SIZE = Gauge(
    "kirby_database_size_bytes",
    "Size of Kirby's PostgreSQL database, measured by the status sampler and the status document.",
    multiprocess_mode="mostrecent",
)

# Read replicas (lib/replicas.py): measured by every web process's background check.
REPLICA_LAG = Gauge(
    "kirby_replica_lag_seconds",
    "Replay lag of a read replica (time since the last replayed commit while WAL is waiting to be replayed).",
    ["replica"],
    multiprocess_mode="max",
)
REPLICA_SERVING = Gauge(
    "kirby_replica_serving",
    "1 while a read replica is reachable and within KIRBY_REPLICA_MAX_LAG_SECONDS (it then serves reads), else 0.",
    ["replica"],
    multiprocess_mode="min",
)

# --- serving -----------------------------------------------------------------------
WS_CONNECTIONS = Gauge("kirby_ws_connections", "Open /ws connections in this process.", multiprocess_mode="livesum")
WS_SENT = Counter("kirby_ws_messages_sent_total", "Messages sent to /ws clients.")
WS_DROPPED = Counter(
    "kirby_ws_messages_dropped_total", "Messages to /ws clients discarded (client too slow or already closing)."
)
CACHE_HITS = Counter("kirby_cache_hits_total", "Lookups answered from a cache.", ["cache"])
CACHE_MISSES = Counter("kirby_cache_misses_total", "Lookups the cache could not answer.", ["cache"])
CACHE_REFRESHES = Counter(
    "kirby_cache_refreshes_total",
    "Cache invalidations by committed writes and reference-data changes (one per series or tag).",
    ["cache"],
)
CACHE_ERRORS = Counter(
    "kirby_cache_errors_total", "Cache calls that failed (Redis away); the read went to PostgreSQL.", ["cache"]
)
RATE_LIMITED = Counter(
    "kirby_rate_limit_rejections_total", "Requests and connections refused by rate limits.", ["subject"]
)

for _type in ("candles", "funding", "open_interest"):  # present from the start, so rate() sees the first increase
    FLUSH_DURATION.labels(_type)
    BACKFILL_ROWS.labels(_type)
for _state in BACKFILL_STATES:
    BACKFILL_JOBS.labels(_state)
for _cache in ("series", "responses"):
    CACHE_HITS.labels(_cache)
    CACHE_MISSES.labels(_cache)
CACHE_REFRESHES.labels("responses")
CACHE_ERRORS.labels("responses")
for _subject in ("key", "ip", "ws"):
    RATE_LIMITED.labels(_subject)


# --- helpers for code outside this app ------------------------------------------------
def record_backfill_rows(record_type, count):
    """Called by the backfill app after each stored page: ``record_type`` candles | funding | open_interest."""
    if count:
        BACKFILL_ROWS.labels(record_type).inc(count)


def set_backfill_jobs(counts_by_state):
    """The number of backfill jobs in each state ({state: n}; states not given are 0)."""
    for state in set(BACKFILL_STATES) | set(counts_by_state):
        BACKFILL_JOBS.labels(state).set(counts_by_state.get(state, 0))


def set_gaps_open(count):
    GAPS_OPEN.set(count)


def record_dead_letters(exchange, record_type, count):
    """Rows the write path set aside (apps.marketdata.writer)."""
    DEAD_LETTERS.labels(exchange, record_type).inc(count)


def record_write(exchange, record_type, result, seconds):
    """One batch through the write path (apps.marketdata.writer)."""
    FLUSH_DURATION.labels(record_type).observe(seconds)
    if result.written:
        RECORDS_WRITTEN.labels(exchange, record_type).inc(result.written)
    if result.rejected:
        ROWS_REJECTED.labels(exchange, record_type).inc(result.rejected)


# --- the dashboard's ingest counter -----------------------------------------------------
# Cluster-wide rows collected so far, in Redis: the status sampler (apps.operations.samples)
# turns it into the dashboard's ingest-rate plot. Here so that ingestion never imports operations.
INGESTED_KEY = "kirby:ingested"


def count_ingested(rows):
    """Add ``rows`` stored by a collector to the cluster-wide counter (once per batch; never raises)."""
    if not rows:
        return
    try:
        client().incrby(INGESTED_KEY, rows)
    except Exception as error:  # the dashboard's plot must never stop collection
        log.debug("cannot count ingested rows: %s", error)


# --- retention and backups (apps.operations) -----------------------------------------------
RETENTION_ROWS = Counter("kirby_retention_rows_freed_total", "Rows removed by retention policies.", ["policy"])
RETENTION_BYTES = Counter(
    "kirby_retention_bytes_freed_total",
    "Bytes freed by retention policies (dropped partitions exactly, batched deletes estimated).",
    ["policy"],
)
RETENTION_PARTITIONS = Counter(
    "kirby_retention_partitions_dropped_total", "Whole partitions dropped by retention policies.", ["policy"]
)


def record_retention(policy, rows, size, partitions):
    RETENTION_ROWS.labels(policy).inc(rows)
    RETENTION_BYTES.labels(policy).inc(size)
    RETENTION_PARTITIONS.labels(policy).inc(partitions)


BACKUP_AGE = Gauge(
    "kirby_backup_newest_verified_age_seconds",
    "Age of the newest backup a restore check proved (+Inf before the first); set when the status is read.",
    multiprocess_mode="mostrecent",
)


BACKUP_FAILED = Gauge(
    "kirby_backup_last_run_failed",
    "1 when the newest backup run of any database (or its restore check) failed; set when the status is read.",
    multiprocess_mode="mostrecent",
)


def set_backup_age(seconds):
    BACKUP_AGE.set(float("inf") if seconds is None else seconds)


def set_backup_failed(failed):
    BACKUP_FAILED.set(1 if failed else 0)
