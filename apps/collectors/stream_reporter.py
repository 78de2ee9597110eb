"""What a running stream tells /health, kept in Redis by apps.collectors.stream_documents, and its metrics.

Per-frame work stays a few integer increments: the ``kirby_*`` counters get
the differences once per tick (``maybe_report``, every ``TICK_SECONDS``).
"""

import logging
import os
import socket
import time

from apps.collectors.stream_documents import report_stream
from lib.metrics import MESSAGES_RECEIVED, STREAM_CONNECTED, STREAM_LAST_MESSAGE, STREAM_RECONNECTS

log = logging.getLogger(__name__)

REPORT_SECONDS = 2.0
MALFORMED_LOG_SECONDS = 10.0


class StreamStatus:
    def __init__(self, name, exchange):
        self.name = name
        self.doc = {
            "exchange": exchange,
            "running": True,
            "connected": False,
            "connected_since": None,
            "last_message_at": None,
            "messages": 0,
            "malformed": 0,
            "reconnects": 0,
            "rollovers": 0,
            "last_error": None,
            "last_error_at": None,
            "subscriptions": 0,
            "unsupported": [],
            "buffered": 0,
            "worker": f"{socket.gethostname()}:{os.getpid()}",
        }
        self._next_report = 0.0
        self._next_malformed_log = 0.0
        self._malformed_since_log = 0
        # Parsed events by type, counted by the stream; exported as differences per tick.
        self.events = {"candle": 0, "asset_ctx": 0, "trade": 0, "book": 0, "control": 0}
        self._exported = {"candle": 0, "asset_ctx": 0, "trade": 0, "book": 0, "control": 0, "malformed": 0}
        self._received = {kind: MESSAGES_RECEIVED.labels(exchange, kind) for kind in self._exported}
        self._last_message = STREAM_LAST_MESSAGE.labels(name)
        self._connected = STREAM_CONNECTED.labels(name)
        self._reconnects = STREAM_RECONNECTS.labels(exchange)

    def _field(name):  # a class-body helper, removed below
        return property(lambda self: self.doc[name], lambda self, value: self.doc.__setitem__(name, value))

    reconnects = _field("reconnects")  # use ``reconnected()`` to count one
    subscriptions = _field("subscriptions")
    unsupported = _field("unsupported")
    del _field

    def connected_now(self):
        self.doc.update(connected=True, connected_since=time.time())
        self._connected.set(1)
        self.report()

    def reconnected(self):
        self.doc["reconnects"] += 1
        self._reconnects.inc()

    def rolled_over(self):
        """The connection was replaced before the exchange's maximum age, without a gap (not a reconnect)."""
        self.doc["rollovers"] += 1
        self.report()

    def message(self, now=None):
        """A frame arrived (at ``now``, time.time(), when the caller has it)."""
        doc = self.doc
        doc["messages"] += 1
        doc["last_message_at"] = time.time() if now is None else now

    def failed(self, error):
        self._connected.set(0)
        self.doc.update(connected=False, last_error=f"{type(error).__name__}: {error}"[:500], last_error_at=time.time())
        self.report()

    def exchange_error(self, detail):
        self.doc.update(last_error=f"exchange error: {detail}"[:500], last_error_at=time.time())

    def malformed_frame(self, raw, reason):
        self.doc["malformed"] += 1
        self._malformed_since_log += 1
        now = time.monotonic()
        if now >= self._next_malformed_log:
            sample = raw if isinstance(raw, str) else repr(raw)
            log.warning(
                "stream %s: %d malformed frame(s) skipped (%s); sample: %.300s",
                self.name, self._malformed_since_log, reason, sample,
            )  # fmt: skip
            self._malformed_since_log = 0
            self._next_malformed_log = now + MALFORMED_LOG_SECONDS

    def stopped(self):
        self.doc.update(running=False, connected=False)
        self._connected.set(0)
        self.export_metrics()
        self.report()

    def export_metrics(self):
        counts = {**self.events, "malformed": self.doc["malformed"]}
        for kind, count in counts.items():
            delta = count - self._exported[kind]
            if delta:
                self._received[kind].inc(delta)
                self._exported[kind] = count
        if self.doc["last_message_at"] is not None:
            self._last_message.set(self.doc["last_message_at"])

    def maybe_report(self, buffered):
        self.export_metrics()
        if time.monotonic() >= self._next_report:
            self.doc["buffered"] = buffered
            self.report()

    def report(self):
        self.doc["heartbeat_at"] = time.time()
        try:
            report_stream(self.name, self.doc)
        except Exception as error:  # status must never break collection
            log.warning("stream %s: cannot report status: %s", self.name, error)
        self._next_report = time.monotonic() + REPORT_SECONDS
