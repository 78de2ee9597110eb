"""What a job or a gap is about: one series of one data type, and its slots.

A series is a starlisting's candles, or a trading pair's funding rates or
open interest. Its *slots* are the times rows are expected at: candle open
times of the starlisting's interval; funding hours (Hyperliquid settles
hourly and its history is hourly); open-interest periods of
KIRBY_CONTEXT_PERIOD_SECONDS (rows are stamped at period ends). All times
are epoch milliseconds, UTC; windows are half-open ``[start, end)``.
"""

from dataclasses import dataclass

from django.conf import settings
from django.db import connections

from apps.markets import intervals
from apps.markets.models import Starlisting, TradingPair
from lib.timeutil import from_ms

_TABLES = {"candles": ("candles", "starlisting_id"), "funding": ("funding_rates", "trading_pair_id"),
           "open_interest": ("open_interest", "trading_pair_id")}  # fmt: skip


class Slots:
    """Slot arithmetic of a named interval (calendar-aware for 1M) or of a fixed step in milliseconds."""

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


@dataclass(frozen=True)
class Series:
    data_type: str
    trading_pair_id: int
    starlisting_id: int | None
    exchange: str
    coin: str
    quote: str
    market_type: str
    interval: str | None = None

    @property
    def path(self):
        base = f"{self.exchange}/{self.coin}/{self.quote}/{self.market_type}"
        return f"{base}/{self.interval}" if self.interval else f"{base} {self.data_type}"

    @property
    def series_id(self):
        return self.starlisting_id if self.data_type == "candles" else self.trading_pair_id

    @property
    def slots(self):
        if self.data_type == "candles":
            return Slots(self.interval)
        if self.data_type == "funding":
            return Slots("1h")
        return Slots(step_ms=int(settings.KIRBY_CONTEXT_PERIOD_SECONDS * 1000))

    def present(self, start_ms, end_ms, using="default"):
        """Slots in ``[start, end)`` that hold a row (closed candles only)."""
        table, column = _TABLES[self.data_type]
        closed = " AND closed" if self.data_type == "candles" else ""
        if self.data_type == "funding":  # live rows come every minute, history hourly: count hours
            what = "count(DISTINCT date_trunc('hour', time))"
        else:
            what = "count(*)"
        with connections[using].cursor() as cursor:
            cursor.execute(
                f"SELECT {what} FROM {table} WHERE {column} = %s AND time >= %s AND time < %s{closed}",
                [self.series_id, from_ms(start_ms), from_ms(end_ms)],
            )
            return cursor.fetchone()[0]

    def missing(self, start_ms, end_ms, using="default"):
        return max(0, self.slots.count(start_ms, end_ms) - self.present(start_ms, end_ms, using))


_PAIR_NAMES = ("exchange__name", "coin__symbol", "quote__symbol", "market_type__name")


def candle_series(starlisting_id, using="default"):
    row = (
        Starlisting.objects.using(using)
        .filter(id=starlisting_id)
        .values_list("trading_pair_id", *(f"trading_pair__{n}" for n in _PAIR_NAMES), "interval__name")
        .get()
    )
    return Series("candles", row[0], starlisting_id, *row[1:5], interval=row[5])


def pair_series(data_type, trading_pair_id, using="default"):
    row = TradingPair.objects.using(using).filter(id=trading_pair_id).values_list(*_PAIR_NAMES).get()
    return Series(data_type, trading_pair_id, None, *row)


def series_of(obj, using="default"):
    """The series of a BackfillJob or Gap."""
    if obj.data_type == "candles":
        return candle_series(obj.starlisting_id, using)
    return pair_series(obj.data_type, obj.trading_pair_id, using)
