"""Epoch milliseconds <-> aware UTC datetimes, exactly (no float on the way).

Exchanges speak milliseconds; the database and the API speak datetimes.
"""

from datetime import UTC, datetime, timedelta

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


def from_ms(ms):
    return EPOCH + timedelta(milliseconds=ms)


def from_us(us):
    return EPOCH + timedelta(microseconds=us)


def to_ms(moment):
    """Milliseconds since the epoch, rounded down (a naive datetime counts as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - EPOCH) // _MS
