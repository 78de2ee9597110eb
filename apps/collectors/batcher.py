"""Collects records from a stream and stores them through the one write path.

The stream's event loop only appends to a buffer; a flusher thread writes a
batch when it reaches ``batch_size`` records or every ``flush_seconds``, so
receiving never waits on the database. Within a buffer the latest version
of a row (same series and time) replaces earlier ones, as the database would.
A failed write keeps its records and is retried with backoff: nothing is
dropped while the database is away. ``close()`` flushes what is buffered.

Per stored batch it sets the ingest lag (receipt of the batch's oldest
record to commit) and adds the rows written to the cluster-wide ingest
counter the dashboard plots (apps.operations.samples).
"""

import logging
import threading
import time

from django.db import close_old_connections

from apps.marketdata.records import CandleRecord, FundingRecord, OpenInterestRecord
from apps.marketdata.writer import write_candles, write_funding, write_open_interest
from lib.metrics import INGEST_LAG, count_ingested

log = logging.getLogger(__name__)

_WRITERS = {CandleRecord: write_candles, FundingRecord: write_funding, OpenInterestRecord: write_open_interest}


class Batcher:
    def __init__(self, *, flush_seconds=1.0, batch_size=5000, on_written=None, name="batcher", exchange=""):
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
        backoff = 0.5
        while not self._closing:
            self._wake.wait(self.flush_seconds)
            self._wake.clear()
            if self._flush():
                backoff = 0.5
            else:
                time.sleep(backoff)
                backoff = min(backoff * 2, 30)
        for _ in range(5):  # the final flush at shutdown
            if self._flush():
                break
            time.sleep(1)
        close_old_connections()

    def _flush(self):
        batches, oldest = self._take()
        if not batches:
            with self._lock:
                if not any(self._buffers.values()):
                    self._idle.set()
            return True
        ok = True
        written = 0
        close_old_connections()
        for kind, records in batches.items():
            try:
                result = _WRITERS[kind](records, exchange=self.exchange)
            except Exception:
                log.exception("storing %d %s failed; will retry", len(records), kind.__name__)
                self._put_back(kind, records, oldest)
                close_old_connections()
                ok = False
                continue
            written += result.written
            if self.on_written:
                self.on_written(kind, result)
        if ok and oldest is not None:
            INGEST_LAG.labels(self.exchange).set(max(0.0, time.time() - oldest))
        count_ingested(written)
        with self._lock:
            if ok and not any(self._buffers.values()):
                self._idle.set()
        return ok
