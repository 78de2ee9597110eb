"""Slot arithmetic: the times rows of a series are expected at.

A named interval's slots are candle open times (calendar-aware for 1M, via
apps.markets.intervals); a fixed step's are multiples of the step. All
times are epoch milliseconds, UTC; windows are half-open ``[start, end)``.
"""

from apps.markets import intervals


class Slots:
    """Slot arithmetic of a named interval or of a fixed step in milliseconds."""

    def __init__(self, interval=None, step_ms=None):
        self.interval, self.step_ms = interval, step_ms

    def floor(self, t_ms):
        return intervals.floor(self.interval, t_ms) if self.interval else t_ms - t_ms % self.step_ms

    def shift(self, slot_ms, count):
        return intervals.shift(self.interval, slot_ms, count) if self.interval else slot_ms + count * self.step_ms

    def next(self, slot_ms):
        return self.shift(slot_ms, 1)

    def ceil(self, t_ms):
        start = self.floor(t_ms)
        return start if start == t_ms else self.next(start)

    def count(self, start_ms, end_ms):
        if self.interval:
            return intervals.slot_count(self.interval, start_ms, end_ms)
        first = self.ceil(start_ms)
        return 0 if first >= end_ms else (end_ms - 1 - first) // self.step_ms + 1

    def sql_step(self):
        """The step as a PostgreSQL interval (months stay calendar months)."""
        if self.interval == intervals.MONTH:
            return "1 month"
        seconds = intervals.STANDARD_INTERVALS[self.interval] if self.interval else self.step_ms / 1000
        return f"{seconds} seconds"
