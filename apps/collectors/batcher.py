"""Collects records from a stream and stores them through the one write path.

The stream's event loop only appends to a buffer; a flusher thread writes a
batch when it reaches ``batch_size`` records or every ``flush_seconds``, so
receiving never waits on the database. Within a buffer the latest version
of a row (same series and time) replaces earlier ones, as the database would;
trades are kept as they come (the write path stores a trade once by its key).
A batch that cannot be written goes to the Redis spool (spool.py), and so
does every later batch of its type while the spool holds any; a replayer
thread stores the spool in order, with backoff, once the database is back.
A worker killed during an outage so loses at most one flush period (with
Redis away too, batches wait in memory and are retried with backoff). A write
waits at most ``KIRBY_COLLECTOR_CONNECT_SECONDS`` for a pooled connection
before its batch is spooled, not the pool's whole timeout. The flusher thread
is guarded: an unexpected error is logged and counted
(``kirby_batcher_flusher_restarts_total``) and the loop restarts; ``close()``
flushes what is buffered.

Per stored batch it sets the ingest lag (receipt of the batch's oldest
record to commit) and adds the rows written to the cluster-wide ingest
counter the dashboard plots (apps.operations.samples).
"""

import logging
import threading
import time

from django.conf import settings
from django.db import close_old_connections

from apps.collectors import spool
from apps.marketdata.records import CandleRecord, FundingRecord, OpenInterestRecord, OrderBookRecord, TradeRecord
from apps.marketdata.writer import write_candles, write_funding, write_open_interest, write_orderbooks, write_trades
from lib.databases import wait_for_connection
from lib.metrics import FLUSHER_RESTARTS, INGEST_LAG, count_ingested

log = logging.getLogger(__name__)

_WRITERS = {
    CandleRecord: write_candles,
    FundingRecord: write_funding,
    OpenInterestRecord: write_open_interest,
    TradeRecord: write_trades,
    OrderBookRecord: write_orderbooks,
}


def _key(record):
    # A row's key: its series and time (trades are not merged in the buffer: see Batcher.add).
    return record[0], record[1]


class Batcher:
    def __init__(self, *, flush_seconds=1.0, batch_size=5000, on_written=None, name="batcher", exchange="", spool=True):
        self.spool = spool  # keep batches in Redis (apps.collectors.spool) while the database is away
        self.exchange = exchange  # the metrics label of the rows stored
        self.flush_seconds = flush_seconds
        self.batch_size = batch_size
        self.on_written = on_written  # called with (record type, WriteResult) after each commit
        self._buffers = self._empty()
        self._trades = []
        self._size = 0
        self._oldest = None  # time.time() when the oldest buffered record arrived
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closing = False
        self._idle = threading.Event()
        self._idle.set()
        self._retry_at = 0.0  # time.monotonic() before which a flush is not tried again
        self._database_away = False  # a write failed: batches go to the spool until the replayer empties it
        self._thread = threading.Thread(target=self._run, name=f"{name}-flusher", daemon=True)
        self._thread.start()
        self._stop_replaying = threading.Event()
        self._replayer = None
        if spool:
            self._replayer = threading.Thread(
                target=self._guarded, args=(self._replay_loop, f"{name}-replayer"), name=f"{name}-replayer", daemon=True
            )
            self._replayer.start()

    def add(self, record):
        kind = type(record)
        with self._lock:
            if kind is TradeRecord:  # the busiest type, and never merged here: the write path stores a trade once
                self._trades.append(record)
                if not self._size:
                    self._oldest = time.time()
                self._size += 1
            else:
                key = (record[0], record[1])  # as _key, without the call
                buffer = self._buffers[kind]
                previous = buffer.get(key)
                if previous is None:
                    if not self._size:
                        self._oldest = time.time()
                    self._size += 1
                elif kind is CandleRecord and previous.closed and not record.closed:
                    return  # as in the database: a closed candle is never reopened
                buffer[key] = record
            # Woken once: while a batch is being written the next one fills, and setting an Event
            # on each of its records cost more than the add.
            full = self._size >= self.batch_size and not self._wake.is_set()
            if self._idle.is_set():  # set under this lock only: clearing it on every add was a lock of its own
                self._idle.clear()
        if full:
            self._wake.set()

    def pending(self):
        with self._lock:
            return self._size

    def flush_now(self, timeout=30):
        """Block until everything added so far is stored (tests, shutdown)."""
        self._wake.set()
        return self._idle.wait(timeout)

    def close(self, timeout=60):
        """Store (or spool) what is buffered and stop; what stays spooled is replayed by another collector."""
        self._closing = True
        self._wake.set()
        self._thread.join(timeout)
        self._stop_replaying.set()
        if self._replayer:
            self._replayer.join(timeout)

    def _take(self):
        with self._lock:
            batches = {kind: list(buffer.values()) for kind, buffer in self._buffers.items() if buffer}
            if self._trades:
                batches[TradeRecord] = self._trades
            self._buffers, self._trades = self._empty(), []
            self._size = 0
            oldest, self._oldest = self._oldest, None
        return batches, oldest

    @staticmethod
    def _empty():
        # Rows of one key replace each other in a buffer (the latest version wins); trades go to a list.
        return {kind: {} for kind in _WRITERS if kind is not TradeRecord}

    def _put_back(self, kind, records, oldest):
        with self._lock:
            self._oldest = oldest if self._oldest is None or oldest is None else min(oldest, self._oldest)
            if kind is TradeRecord:
                self._trades = list(records) + self._trades
            else:
                # Records that arrived meanwhile are newer: they win.
                merged = {_key(r): r for r in records}
                merged.update(self._buffers[kind])
                self._buffers[kind] = merged
            self._size = len(self._trades) + sum(len(b) for b in self._buffers.values())

    def _run(self):
        # The top-level guard: whatever goes wrong, the flusher keeps running and shutdown still flushes.
        self._guarded(self._loop, self._thread.name)

    def _guarded(self, loop, name):
        pause = 0.5
        while True:
            try:
                loop()
                return
            except Exception:
                log.exception("%s failed unexpectedly; restarting it", name)
                FLUSHER_RESTARTS.labels(self.exchange).inc()
                time.sleep(pause)
                pause = min(pause * 2, 10)

    def _loop(self):
        backoff = 0.5
        while not self._closing:
            self._wake.wait(self.flush_seconds)
            self._wake.clear()
            if time.monotonic() < self._retry_at:
                continue
            if self._flush():
                backoff, self._retry_at = 0.5, 0.0
            else:  # kept in memory (no spool): try again later
                self._retry_at = time.monotonic() + backoff
                backoff = min(backoff * 2, 30)
        for _ in range(5):  # the final flush at shutdown
            if self._flush():
                break
            time.sleep(1)
        close_old_connections()

    def _replay_loop(self):
        """Store what the spool holds, oldest first, whenever the database takes it again."""
        delay = self.flush_seconds
        while not self._stop_replaying.wait(delay):
            drained = all(
                spool.replay(kind, lambda records, kind=kind: self._write(kind, records))
                for kind in _WRITERS
                if spool.waiting(kind)
            )
            close_old_connections()
            delay = (
                self.flush_seconds
                if drained
                else min(max(delay, 0.5) * 2, settings.KIRBY_COLLECTOR_BACKOFF_MAX_SECONDS)
            )
            if drained:
                self._database_away = False
                self._wake.set()  # the flusher decides whether everything is stored

    def _flush(self):
        """Store what is buffered, or spool it; False when some of it could only be kept in memory."""
        batches, oldest = self._take()
        ok = True
        written = 0
        try:
            close_old_connections()
            while batches:
                kind, records = batches.popitem()
                stored = self._store(kind, records, oldest)
                if stored is None:
                    ok = False
                else:
                    written += stored
        except BaseException:
            for kind, records in batches.items():  # not attempted: back to the buffer before the guard restarts
                self._put_back(kind, records, oldest)
            raise
        if ok and oldest is not None and written:
            INGEST_LAG.labels(self.exchange).set(max(0.0, time.time() - oldest))
        count_ingested(written)
        spooled = self.spool and any(spool.waiting(kind) for kind in _WRITERS)
        with self._lock:
            if ok and not spooled and not self._size:
                self._idle.set()
        return ok

    def _store(self, kind, records, oldest):
        """Rows written (0 when spooled), or None when the records could only be put back in memory."""
        # Behind what is already spooled, to keep the order; the replayer stores it.
        if self.spool and (self._database_away or spool.waiting(kind)) and spool.keep(kind, records):
            return 0
        try:
            return self._write(kind, records)
        except Exception:
            log.exception("storing %d %s failed; will retry", len(records), kind.__name__)
            close_old_connections()
            if self.spool and spool.keep(kind, records):
                # Every type waits for the replayer from now: a write attempt on a database that is
                # away can block for the pool's whole timeout, while batches pile up in memory.
                self._database_away = True
                return 0
            self._put_back(kind, records, oldest)
            return None

    def _write(self, kind, records):
        # Fail fast when the database refuses connections: the pool would hold this batch (and every record
        # behind it) in memory for its whole timeout, where a killed worker loses them; the spool keeps them.
        wait_for_connection(settings.KIRBY_COLLECTOR_CONNECT_SECONDS)
        result = _WRITERS[kind](records, exchange=self.exchange)
        if self.on_written:
            try:
                self.on_written(kind, result)
            except Exception:
                log.exception("the on_written callback failed")
        return result.written
