"""Hyperliquid candle intervals as epoch-millisecond arithmetic.

Every interval except ``1M`` is a fixed length aligned to the Unix epoch (so ``1w`` candles open on
Thursdays, like epoch weeks); ``1M`` follows UTC calendar months. Keeping this in one place lets the
market, the WebSocket pushers and the REST pager agree on every boundary. The arithmetic itself is
Kirby's (``apps.markets.intervals``); this module adds Hyperliquid's interval set (no ``6h``).
"""

from apps.markets import intervals as kirby_intervals

MINUTE = 60_000
HOUR = 60 * MINUTE
DAY = 24 * HOUR

FIXED = {
    "1m": MINUTE,
    "3m": 3 * MINUTE,
    "5m": 5 * MINUTE,
    "15m": 15 * MINUTE,
    "30m": 30 * MINUTE,
    "1h": HOUR,
    "2h": 2 * HOUR,
    "4h": 4 * HOUR,
    "8h": 8 * HOUR,
    "12h": 12 * HOUR,
    "1d": DAY,
    "3d": 3 * DAY,
    "1w": 7 * DAY,
}
MONTH = "1M"
INTERVALS = (*FIXED, MONTH)


def is_interval(name) -> bool:
    return isinstance(name, str) and name in INTERVALS


def _require(interval: str) -> None:
    if not is_interval(interval):
        raise ValueError(f"Unknown interval {interval!r}; expected one of {' '.join(INTERVALS)}")


def floor(interval: str, t_ms: int) -> int:
    """Open time of the candle of ``interval`` that contains ``t_ms``."""
    _require(interval)
    return kirby_intervals.floor(interval, t_ms)


def shift(interval: str, open_ms: int, count: int) -> int:
    """Open time ``count`` candles after (negative: before) the candle opening at ``open_ms``."""
    _require(interval)
    return kirby_intervals.shift(interval, open_ms, count)


def next_start(interval: str, open_ms: int) -> int:
    return shift(interval, open_ms, 1)


def close_time(interval: str, open_ms: int) -> int:
    """Hyperliquid's ``T``: the last millisecond of the candle."""
    return next_start(interval, open_ms) - 1


def is_aligned(interval: str, t_ms: int) -> bool:
    return floor(interval, t_ms) == t_ms
