"""Faults a collector must survive, switched on through the control API.

They act where frames leave the server (see ``connection.Connection.send``), so every protocol and
the replay mode get them for free: silence swallows every frame, malformed swaps data frames for
broken ones, rest-429 refuses REST calls, and drop aborts sockets (in ``server``). Book faults are
taken by the venues' book code (a skipped sequence number, a crossed book, a lost or stale snapshot).
"""

import json
import time

MALFORMED_KINDS = ("invalid-json", "json-array", "bad-open-time", "missing-close", "unknown-channel", "null-data")
# Order-book faults a venue's book pushes apply: an update id skipped, a delta crossing the book, no snapshot
# for a new subscription (its deltas come alone).
BOOK_FAULTS = ("gap", "crossed", "lost-snapshot", "stale-snapshot")
# The faults each venue's book code takes (``/control/book-fault`` refuses the others, which would never fire);
# venue ``any`` breaks whichever book takes one first.
VENUE_BOOK_FAULTS = {
    "any": BOOK_FAULTS,
    "binance-usdm": BOOK_FAULTS,
    "binance-spot": BOOK_FAULTS,
    "bybit": ("gap", "crossed", "lost-snapshot"),
    "okx": ("gap", "crossed", "lost-snapshot"),
    "coinbase": ("crossed",),
}
TEMPLATE_CANDLE = {"t": 0, "T": 59_999, "s": "BTC", "i": "1m", "o": "1", "c": "1", "h": "1", "l": "1", "v": "1", "n": 1}


def _dumps(value) -> str:
    return json.dumps(value, separators=(",", ":"))


def _candle_of(frame: str) -> dict:
    try:
        message = json.loads(frame)
    except ValueError:
        return dict(TEMPLATE_CANDLE)
    if isinstance(message, dict) and message.get("channel") == "candle" and isinstance(message.get("data"), dict):
        return dict(message["data"])
    return dict(TEMPLATE_CANDLE)


def malformed_frame(index: int, frame: str) -> str:
    """The ``index``-th broken frame (cycling through ``MALFORMED_KINDS``), built from the frame it replaces."""
    kind = MALFORMED_KINDS[index % len(MALFORMED_KINDS)]
    candle = _candle_of(frame)
    if kind == "invalid-json":
        whole = _dumps({"channel": "candle", "data": candle})
        return whole[: len(whole) // 2]
    if kind == "json-array":
        return _dumps([{"channel": "candle", "data": candle}])
    if kind == "bad-open-time":
        return _dumps({"channel": "candle", "data": {**candle, "t": "notanumber"}})
    if kind == "missing-close":
        return _dumps({"channel": "candle", "data": {k: v for k, v in candle.items() if k != "c"}})
    if kind == "unknown-channel":
        return _dumps({"channel": "mysteryChannel", "data": candle})
    return _dumps({"channel": "candle", "data": None})


class Faults:
    """Server-wide fault switches; per-connection malformed counters live on the connections."""

    def __init__(self):
        self.reset()

    def reset(self) -> None:
        self.silent_until = 0.0
        self.rest_429_remaining = 0
        self.pending_malformed = 0
        self.book_faults = {}  # (venue, kind) -> how many times still to break a book that way; venue "any"

    def silence(self, seconds: float) -> None:
        self.silent_until = time.monotonic() + seconds

    @property
    def silent(self) -> bool:
        return time.monotonic() < self.silent_until

    def take_rest_429(self) -> bool:
        if self.rest_429_remaining <= 0:
            return False
        self.rest_429_remaining -= 1
        return True

    def take_book_fault(self, venue: str, kind: str) -> bool:
        """Whether the venue's next book event or snapshot breaks this way (``/control/book-fault``)."""
        for key in ((venue, kind), ("any", kind)):
            if self.book_faults.get(key, 0) > 0:
                self.book_faults[key] -= 1
                return True
        return False

    def take_pending_malformed(self) -> int:
        """Malformed frames owed to a new connection (set when a fault arrived while none was open)."""
        count, self.pending_malformed = self.pending_malformed, 0
        return count
