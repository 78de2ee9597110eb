"""The client side of /ws: parsing and validating what clients send (API.md), and inbound limits.

Pure functions and small objects, no I/O: the consumer turns a text frame
into a command or a ``ProtocolError`` whose code and one-line message go
back to the client as ``{"type": "error", "message", "code"}``.
"""

import time
from dataclasses import dataclass

import orjson

from apps.streaming.groups import ALL_CHANNELS, CHANNELS

MAX_HISTORY = 1000  # API.md: history is 0..1000
MAX_ID = 2**63 - 1  # ids are bigint

# Error codes. The first five are Kirby 1.x's; the others are additive.
INVALID_JSON = "invalid_json"
UNKNOWN_ACTION = "unknown_action"
VALIDATION_ERROR = "validation_error"
INVALID_STARLISTING = "invalid_starlisting"
INTERNAL_ERROR = "internal_error"
MESSAGE_TOO_LARGE = "message_too_large"
RATE_LIMITED = "rate_limited"
SUBSCRIPTION_LIMIT = "subscription_limit"
SLOW_CONSUMER = "slow_consumer"

ACTIONS = ("subscribe", "unsubscribe", "ping")


class ProtocolError(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Subscribe:
    starlisting_ids: list
    history: int
    channels: frozenset


@dataclass(frozen=True)
class Unsubscribe:
    starlisting_ids: list
    channels: frozenset


@dataclass(frozen=True)
class Ping:
    pass


def parse(text, max_ids=100):
    """One client text frame as ``Subscribe``, ``Unsubscribe`` or ``Ping``; raise ``ProtocolError``."""
    try:
        payload = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise ProtocolError(INVALID_JSON, "Invalid JSON") from None  # 1.x's words
    if not isinstance(payload, dict):
        raise ProtocolError(INVALID_JSON, 'Message must be a JSON object such as {"action": "ping"}')
    action = payload.get("action")
    if action not in ACTIONS:
        # 1.x's words ("Unknown action: None" when it is missing), then what would do.
        printable = isinstance(action, str) and action.isprintable()
        shown = "None" if action is None else action if printable else _show(action)
        raise ProtocolError(
            UNKNOWN_ACTION, f"Unknown action: {_show_text(shown)} (expected one of {', '.join(ACTIONS)})"
        )
    if action == "ping":
        return Ping()
    ids = _starlisting_ids(payload, max_ids)
    channels = _channels(payload)
    if action == "subscribe":
        return Subscribe(ids, _history(payload), channels)
    return Unsubscribe(ids, channels)


def _invalid(message):
    return ProtocolError(VALIDATION_ERROR, message)


def _show(value, limit=40):
    shown = orjson.dumps(value).decode()
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."


def _show_text(text, limit=40):
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _is_int(value):
    return type(value) is int  # bool is an int subclass, and not an id


def _lax(value):
    """A numeric string as its integer, as 1.x (Pydantic's lax mode) took ``"1"`` for 1; anything else as is."""
    if isinstance(value, str):
        text = value.strip()
        if text.isascii() and text.isdigit() and len(text) <= 20:
            return int(text)
    return value


def _starlisting_ids(payload, max_ids):
    """Positive integers, 1..max_ids of them; duplicates dropped, order kept."""
    ids = payload.get("starlisting_ids")
    if ids is None:
        raise _invalid(f"starlisting_ids is required: a list of 1 to {max_ids} starlisting IDs")
    if not isinstance(ids, list):
        raise _invalid(f"starlisting_ids must be a list of starlisting IDs, got {_show(ids)}")
    if not 1 <= len(ids) <= max_ids:
        raise _invalid(f"starlisting_ids must hold 1 to {max_ids} IDs, got {len(ids)}")
    ids = [_lax(value) for value in ids]
    for index, value in enumerate(ids):
        if not _is_int(value) or not 0 < value <= MAX_ID:
            # 1.x's words, then the item named.
            raise _invalid(f"All starlisting IDs must be positive integers: starlisting_ids[{index}] is {_show(value)}")
    return list(dict.fromkeys(ids))


def _history(payload):
    history = _lax(payload.get("history"))
    if history is None:
        return 0
    if not _is_int(history) or not 0 <= history <= MAX_HISTORY:
        raise _invalid(f"history must be an integer from 0 to {MAX_HISTORY}, got {_show(history)}")
    return history


def _channels(payload):
    """Optional filter (Kirby addition); when absent, the 1.x channels (never trades or books unasked)."""
    channels = payload.get("channels")
    if channels is None:
        return frozenset(CHANNELS)
    choices = ", ".join(ALL_CHANNELS)
    if not isinstance(channels, list) or not channels:
        raise _invalid(f"channels must be a non-empty list of: {choices}")
    for index, value in enumerate(channels):
        if value not in ALL_CHANNELS:
            raise _invalid(f"channels[{index}] must be one of {choices}, got {_show(value)}")
    return frozenset(channels)


class TokenBucket:
    """Inbound rate limit: ``rate`` messages per second on average, up to ``burst`` at once."""

    def __init__(self, rate, burst, clock=time.monotonic):
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self.tokens = float(burst)
        self.updated = clock()

    def allow(self):
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False
