"""Usage per key, recorded off the request path.

A request only appends a tuple to this process's buffer; a background thread
writes the buffer in one batch every ``KIRBY_USAGE_FLUSH_SECONDS`` (and at
exit), and moves each key's ``last_used_at`` at most once a minute. A batch
that cannot be written (database away) is kept and retried, up to a cap. A
row the database would refuse (a NUL in the path, a client address that is
not an IP) is skipped and counted (``kirby_usage_rows_skipped_total``) rather
than blocking every later row: checked before COPY, and if a batch is still
refused, written row by row.
"""

import atexit
import ipaddress
import logging
import os
import threading
from datetime import timedelta
from typing import NamedTuple

import psycopg
from django.conf import settings
from django.db import DataError, close_old_connections, connection, transaction
from django.db.models import Count, Max, Q
from django.utils import timezone

from apps.access.models import ApiKey, ApiKeyUsage
from lib.metrics import USAGE_ROWS_SKIPPED

log = logging.getLogger(__name__)

LAST_USED_EVERY = timedelta(minutes=1)
_COPY = (
    f"COPY {ApiKeyUsage._meta.db_table} (api_key_id, time, method, endpoint, status, latency_ms, client_ip, user_agent)"
    " FROM STDIN"
)
MAX_BUFFERED = 100_000
# Refusals of a row by the database, as opposed to the database being away.
_REFUSED = (DataError, psycopg.DataError, UnicodeEncodeError)


class Use(NamedTuple):
    key_id: int
    time: object  # aware datetime, UTC
    method: str
    endpoint: str
    status: int
    latency_ms: float
    client_ip: str | None
    user_agent: str


class Recorder:
    def __init__(self):
        self._buffer = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread = None
        self._pid = None
        self._last_used_written = {}  # key id -> when last_used_at was last moved

    def record(self, use):
        with self._lock:
            if len(self._buffer) < MAX_BUFFERED:
                self._buffer.append(use)
            if self._pid != os.getpid():  # first use, or a forked worker: its own thread
                self._pid = os.getpid()
                self._thread = threading.Thread(target=self._run, name="kirby-usage", daemon=True)
                self._thread.start()

    def discard(self):
        """Forget what is buffered (a test run ends before its database goes away)."""
        with self._lock:
            self._buffer.clear()

    def _run(self):
        while True:
            self._wake.wait(settings.KIRBY_USAGE_FLUSH_SECONDS)
            self._wake.clear()
            self.flush()
            close_old_connections()  # this thread's connection goes back to the pool between batches

    def flush(self):
        """Write what is buffered; returns the number of rows written."""
        with self._lock:
            batch, self._buffer = self._buffer, []
        batch = [use for use in batch if _writable(use)]
        if not batch:
            return 0
        try:
            try:
                self._write(batch)
            except _REFUSED:
                return self._write_one_by_one(batch)
        except Exception as error:
            log.warning("could not record %d API key uses, will retry: %s", len(batch), error)
            with self._lock:
                self._buffer[:0] = batch[: MAX_BUFFERED - len(self._buffer)]
            return 0
        return len(batch)

    def _write_one_by_one(self, batch):
        written = 0
        for use in batch:
            try:
                self._write([use])
            except _REFUSED as error:
                _skip(use, error)
            else:
                written += 1
        return written

    def _write(self, batch):
        ids = {use.key_id for use in batch}
        existing = set(ApiKey.objects.filter(id__in=ids).values_list("id", flat=True))
        now = timezone.now()
        last_used = {}
        with transaction.atomic(), connection.cursor() as cursor:
            # COPY: a tenth of the cost of INSERTs per row, and this runs for every request served.
            with cursor.copy(_COPY) as copy:
                for use in batch:
                    if use.key_id not in existing:  # a key deleted meanwhile takes its usage with it
                        continue
                    copy.write_row((*use[:3], use.endpoint[:200], use.status, use.latency_ms, use.client_ip,
                                    use.user_agent[:200]))  # fmt: skip
                    if now - self._last_used_written.get(use.key_id, now - LAST_USED_EVERY) >= LAST_USED_EVERY:
                        last_used[use.key_id] = max(use.time, last_used.get(use.key_id, use.time))
            for key_id, when in last_used.items():
                ApiKey.objects.filter(id=key_id).filter(Q(last_used_at__lt=when) | Q(last_used_at=None)).update(
                    last_used_at=when
                )
        for key_id in last_used:
            self._last_used_written[key_id] = now


def _writable(use):
    """False (and the row counted as skipped) when the database would refuse the row."""
    for value in (use.method, use.endpoint, use.user_agent, use.client_ip):
        if isinstance(value, str) and ("\x00" in value or not value.isprintable() and _unencodable(value)):
            _skip(use, "a NUL or an unencodable character")
            return False
    if use.client_ip is not None:
        try:
            ipaddress.ip_address(use.client_ip)
        except ValueError:
            _skip(use, f"client address {use.client_ip!r} is not an IP address")
            return False
    return True


def _unencodable(value):
    try:
        value.encode()
    except UnicodeEncodeError:
        return True
    return False


def _skip(use, reason):
    log.warning("API key usage row skipped (%s): %r", reason, use)
    USAGE_ROWS_SKIPPED.inc()


recorder = Recorder()
atexit.register(recorder.flush)


def record(use):
    recorder.record(use)


def summary(key, *, now=None, recent=20):
    """Requests and errors (status >= 400) of a key: all kept, last day, last week; top endpoints; latest uses."""
    now = now or timezone.now()
    day, week = now - timedelta(days=1), now - timedelta(days=7)
    errors = Q(status__gte=400)
    totals = key.usage.aggregate(
        requests=Count("id"),
        errors=Count("id", filter=errors),
        requests_day=Count("id", filter=Q(time__gte=day)),
        errors_day=Count("id", filter=Q(time__gte=day) & errors),
        requests_week=Count("id", filter=Q(time__gte=week)),
        errors_week=Count("id", filter=Q(time__gte=week) & errors),
        last_request_at=Max("time"),
    )
    endpoints = (
        key.usage.filter(time__gte=week)
        .values("method", "endpoint")
        .annotate(requests=Count("id"), errors=Count("id", filter=errors))
        .order_by("-requests", "endpoint")[:20]
    )
    latest = key.usage.order_by("-time").values(
        "time", "method", "endpoint", "status", "latency_ms", "client_ip", "user_agent"
    )[:recent]
    return {
        "key_id": key.id,
        "requests": totals["requests"],
        "errors": totals["errors"],
        "last_day": {"requests": totals["requests_day"], "errors": totals["errors_day"]},
        "last_week": {"requests": totals["requests_week"], "errors": totals["errors_week"]},
        "last_request_at": totals["last_request_at"],
        "last_used_at": key.last_used_at,
        "retention_days": settings.KIRBY_USAGE_RETENTION_DAYS,
        "top_endpoints_last_week": list(endpoints),
        "recent": list(latest),
    }
