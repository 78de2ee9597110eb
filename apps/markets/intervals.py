"""The candle intervals Kirby knows, and slot arithmetic on epoch milliseconds.

Every interval but ``1M`` is a fixed length aligned to the Unix epoch (a
``1d`` candle opens at 00:00 UTC; ``1w`` candles open on Thursdays, as
Hyperliquid's do); ``1M`` follows UTC calendar months. A *slot* is the open
time of one candle; windows are half-open ``[start, end)``.
"""

from datetime import UTC, datetime, timedelta

STANDARD_INTERVALS = {
    "1m": 60,
    "3m": 180,
    "5m": 300,
    "15m": 900,
    "30m": 1800,
    "1h": 3600,
    "2h": 7200,
    "4h": 14400,
    "6h": 21600,
    "8h": 28800,
    "12h": 43200,
    "1d": 86400,
    "3d": 259200,
    "1w": 604800,
    "1M": 2592000,
}
MONTH = "1M"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


def _step(interval):
    try:
        return STANDARD_INTERVALS[interval] * 1000
    except KeyError:
        raise ValueError(f"unknown interval {interval!r}") from None


def _month_index(t_ms):
    moment = _EPOCH + t_ms * _MS
    return moment.year * 12 + moment.month - 1


def _month_start(index):
    year, month = divmod(index, 12)
    return (datetime(year, month + 1, 1, tzinfo=UTC) - _EPOCH) // _MS


def floor(interval, t_ms):
    """Open time of the candle of ``interval`` that contains ``t_ms``."""
    if interval == MONTH:
        return _month_start(_month_index(t_ms))
    return t_ms - t_ms % _step(interval)


def shift(interval, open_ms, count):
    """Open time ``count`` candles after (negative: before) the candle opening at ``open_ms``."""
    if interval == MONTH:
        return _month_start(_month_index(open_ms) + count)
    return open_ms + count * _step(interval)


def next_start(interval, open_ms):
    return shift(interval, open_ms, 1)


def ceil(interval, t_ms):
    """The first slot at or after ``t_ms``."""
    start = floor(interval, t_ms)
    return start if start == t_ms else next_start(interval, start)


def slot_count(interval, start_ms, end_ms):
    """How many candles open in ``[start_ms, end_ms)``."""
    first = ceil(interval, start_ms)
    if first >= end_ms:
        return 0
    if interval == MONTH:
        return _month_index(end_ms - 1) - _month_index(first) + 1
    return (end_ms - 1 - first) // _step(interval) + 1
