"""Collects records from a stream and stores them through the one write path.

The stream's event loop only appends to a buffer; a flusher thread writes a
batch when it reaches ``batch_size`` records or every ``flush_seconds``, so
receiving never waits on the database. Within a buffer the latest version
of a row (same series and time) replaces earlier ones, as the database would.
A failed write is retried with backoff; meanwhile its records and every
batch after it go to the Redis spool (spool.py), replayed in order when the
database is back, so a worker killed during an outage loses at most one
flush period (with Redis away too, they wait in memory). The flusher thread
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

from django.db import close_old_connections

from apps.collectors import spool
from apps.marketdata.records import CandleRecord, FundingRecord, OpenInterestRecord
from apps.marketdata.writer import write_candles, write_funding, write_open_interest
from lib.metrics import FLUSHER_RESTARTS, INGEST_LAG, count_ingested

log = logging.getLogger(__name__)

_WRITERS = {CandleRecord: write_candles, FundingRecord: write_funding, OpenInterestRecord: write_open_interest}


class Batcher:
    def __init__(self, *, flush_seconds=1.0, batch_size=5000, on_written=None, name="batcher", exchange="", spool=True):
        self.spool = spool  # keep batches in Redis (apps.collectors.spool) while the database is away
        self.exchange = exchange  # the metrics label of the rows stored
        self.flush_seconds = flush_seconds
        self.batch_size = batch_size
        self.on_written = on_written  # called with (record type, WriteResult) after each commit
        self._buffers = {kind: {} for kind in _WRITERS}
        self._size = 0
        self._oldest = None  # time.time() when the oldest buffered record arrived
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closing = False
        self._idle = threading.Event()
        self._idle.set()
        self._backoff = 0.5
        self._retry_at = 0.0  # time.monotonic() before which the database is not tried again
        self._thread = threading.Thread(target=self._run, name=f"{name}-flusher", daemon=True)
        self._thread.start()

    def add(self, record):
        kind_is_candle = type(record) is CandleRecord
        with self._lock:
            buffer = self._buffers[type(record)]
            key = (record[0], record[1])
            previous = buffer.get(key)
            if previous is None:
                if not self._size:
                    self._oldest = time.time()
                self._size += 1
            elif kind_is_candle and previous.closed and not record.closed:
                return  # as in the database: a closed candle is never reopened
            buffer[key] = record
            full = self._size >= self.batch_size
            self._idle.clear()
        if full:
            self._wake.set()

    def pending(self):
        with self._lock:
            return sum(len(b) for b in self._buffers.values())

    def flush_now(self, timeout=30):
        """Block until everything added so far is stored (tests, shutdown)."""
        self._wake.set()
        return self._idle.wait(timeout)

    def close(self, timeout=60):
        self._closing = True
        self._wake.set()
        self._thread.join(timeout)

    def _take(self):
        with self._lock:
            batches = {kind: list(buffer.values()) for kind, buffer in self._buffers.items() if buffer}
            self._buffers = {kind: {} for kind in _WRITERS}
            self._size = 0
            oldest, self._oldest = self._oldest, None
        return batches, oldest

    def _put_back(self, kind, records, oldest):
        with self._lock:
            self._oldest = oldest if self._oldest is None or oldest is None else min(oldest, self._oldest)
            buffer = self._buffers[kind]
            # Records that arrived meanwhile are newer: they win.
            merged = {(r[0], r[1]): r for r in records}
            merged.update(buffer)
            self._buffers[kind] = merged
            self._size = sum(len(b) for b in self._buffers.values())

    def _run(self):
        # The top-level guard: whatever goes wrong, the flusher keeps running and shutdown still flushes.
        pause = 0.5
        while True:
            try:
                self._loop()
                return
            except Exception:
                log.exception("%s failed unexpectedly; restarting it", self._thread.name)
                FLUSHER_RESTARTS.labels(self.exchange).inc()
                time.sleep(pause)
                pause = min(pause * 2, 10)

    def _loop(self):
        while not self._closing:
            self._wake.wait(self.flush_seconds)
            self._wake.clear()
            if time.monotonic() >= self._retry_at:
                self._after(self._flush())
            elif self.spool:  # backing off from the database: only move what arrived to the spool
                self._flush(database=False)
        for _ in range(5):  # the final flush at shutdown
            if self._flush():
                break
            time.sleep(1)
        close_old_connections()

    def _after(self, ok):
        if ok:
            self._backoff = 0.5
            self._retry_at = 0.0
        else:
            self._retry_at = time.monotonic() + self._backoff
            self._backoff = min(self._backoff * 2, 30)

    def _flush(self, database=True):
        """Store (or, with the database away, spool) what is buffered; False when the database failed."""
        batches, oldest = self._take()
        ok = True
        written = 0
        try:
            if database:
                close_old_connections()
            while batches:
                kind, records = batches.popitem()
                stored = self._store(kind, records, oldest, database)
                if stored is None:
                    ok = False
                else:
                    written += stored
        except BaseException:
            for kind, records in batches.items():  # not attempted: back to the buffer before the guard restarts
                self._put_back(kind, records, oldest)
            raise
        if ok and database and oldest is not None and written:
            INGEST_LAG.labels(self.exchange).set(max(0.0, time.time() - oldest))
        count_ingested(written)
        if ok and database and self.spool:
            for kind in _WRITERS:
                if spool.waiting(kind) and not spool.replay(kind, lambda r, kind=kind: self._write(kind, r)):
                    ok = False
        with self._lock:
            if ok and database and not any(self._buffers.values()):
                self._idle.set()
        return ok

    def _store(self, kind, records, oldest, database):
        """Rows written, or None when the records could not be stored (then spooled, or kept in memory)."""
        spooling = self.spool and (not database or spool.waiting(kind))
        if spooling:  # behind what is already spooled, to keep the order
            if spool.keep(kind, records):
                return 0 if database else None
            if not database:
                self._put_back(kind, records, oldest)
                return None
        try:
            return self._write(kind, records)
        except Exception:
            log.exception("storing %d %s failed; will retry", len(records), kind.__name__)
            if not (self.spool and spool.keep(kind, records)):
                self._put_back(kind, records, oldest)
            close_old_connections()
            return None

    def _write(self, kind, records):
        result = _WRITERS[kind](records, exchange=self.exchange)
        if self.on_written:
            try:
                self.on_written(kind, result)
            except Exception:
                log.exception("the on_written callback failed")
        return result.written
