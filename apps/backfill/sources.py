"""Where the engine's rows come from: an exchange adapter's REST history, page by page.

An adapter provides ``history.candle_pages(coin, interval, start_ms, end_ms,
budget=)`` yielding lists of CandleUpdate and (where the exchange has
funding) ``history.funding_pages(coin, start_ms, end_ms, budget=)`` yielding
lists of points with ``time_ms``, ``funding_rate`` and ``premium``; both
ascending, within ``[start, end)``. ``history.earliest_candle_ms(coin,
interval, before_ms, budget=)`` and ``history.earliest_funding_ms(coin,
before_ms, budget=)`` tell where the exchange's history begins. Where the
exchange keeps open-interest history, ``history.open_interest_pages(coin,
start_ms, end_ms, period=, budget=)`` (``history.OPEN_INTEREST_PERIOD``, the
finest period kept) yields points with ``time_ms``, ``open_interest`` (one
side) and, where the exchange gives it, ``notional_value``; ``history.earliest_open_interest_ms``
says where it begins. Every call is paid from the budget handed to the
source.
A source turns one page into records for the write path and says where the
next page starts.
"""

from typing import NamedTuple

from apps.collectors.exchanges import get_adapter
from apps.collectors.normalize import candle_records
from apps.marketdata import coverage
from apps.marketdata.records import FundingRecord, OpenInterestRecord
from apps.marketdata.writer import write_candles, write_funding, write_open_interest
from apps.markets import intervals
from lib.timeutil import from_ms

HOUR_MS = 3_600_000


class Page(NamedTuple):
    records: list
    first_ms: int | None  # time of the first row the exchange returned
    next_ms: int  # where the window continues
    final: bool  # False: the page reached the still-open present; nothing after it is final
    received: int  # rows the exchange returned
    last_ms: int | None  # time of the last row the exchange returned


class _Source:
    def __init__(self, series, budget, using):
        self.series, self.budget, self.using = series, budget, using
        self.adapter = get_adapter(series.exchange)
        self.coin = self.adapter.symbols.coin_name(series.coin, series.quote, series.market_type)
        self.rate_limited = self.adapter.history.RateLimited


class CandleSource(_Source):
    """Candles of one exchange series, for one or more starlistings (``starlisting_ids``).

    Closed candles only, by default: a candle is final once its interval has
    ended. "Ended" is judged by the latest of the clock, the newest candle the
    series has stored (open or closed: the exchange has published it, so
    every candle closing before it is final, whatever this machine's clock
    says) and ``final_before_ms`` (a gap's end, or a live push's open time).
    A page ending on a candle not yet final ends the run there. With
    ``keep_open`` (the training backfill) candles are stored as the exchange
    returned them, open ones included, and a later run closes them.
    """

    write = staticmethod(write_candles)

    def __init__(self, series, budget, final_before_ms=0, using="default", *, starlisting_ids=None, keep_open=False):
        super().__init__(series, budget, using)
        self.starlisting_ids = list(starlisting_ids or [series.starlisting_id])
        self.keep_open = keep_open
        newest = 0 if keep_open else max(coverage.newest_candle_ms(i, using) or 0 for i in self.starlisting_ids)
        self.final_before = max(final_before_ms, newest)

    def pages(self, start_ms, end_ms):
        return self.adapter.history.candle_pages(self.coin, self.series.interval, start_ms, end_ms, budget=self.budget)

    def earliest(self, before_ms):
        return self.adapter.history.earliest_candle_ms(self.coin, self.series.interval, before_ms, budget=self.budget)

    def convert(self, page):
        first, last, records, next_ms = page[0].open_ms, page[-1].open_ms, [], None
        for position, candle in enumerate(page):
            if self.keep_open:
                records.extend(candle_records(candle, self.starlisting_ids))
                continue
            if position == len(page) - 1 and candle.close_ms >= self.final_before:
                return Page(records, first, next_ms or candle.open_ms, False, len(page), last)
            records.extend(candle_records(candle._replace(closed=True), self.starlisting_ids))
            next_ms = candle.close_ms + 1
        return Page(records, first, page[-1].close_ms + 1, True, len(page), last)


class FundingSource(_Source):
    """Settled hourly funding. Rows the live collector stored are kept: they carry prices history lacks."""

    write = staticmethod(write_funding)

    def __init__(self, series, budget, final_before_ms=0, using="default"):
        super().__init__(series, budget, using)

    def pages(self, start_ms, end_ms):
        return self.adapter.history.funding_pages(self.coin, start_ms, end_ms, budget=self.budget)

    def earliest(self, before_ms):
        return self.adapter.history.earliest_funding_ms(self.coin, before_ms, budget=self.budget)

    def convert(self, page):
        times = [from_ms(point.time_ms) for point in page]
        stored = coverage.stored_funding_times(self.series.trading_pair_id, times, self.using)
        records = [
            FundingRecord(self.series.trading_pair_id, time, point.funding_rate, point.premium)
            for time, point in zip(times, page)
            if time not in stored
        ]
        return Page(records, page[0].time_ms, page[-1].time_ms + HOUR_MS, True, len(page), page[-1].time_ms)


class OpenInterestSource(_Source):
    """Open-interest history, where the exchange keeps it. Rows the live collector stored are kept: they carry
    the notional value and volumes history lacks."""

    write = staticmethod(write_open_interest)

    def __init__(self, series, budget, final_before_ms=0, using="default"):
        super().__init__(series, budget, using)
        self.period = self.adapter.history.OPEN_INTEREST_PERIOD
        self.step_ms = intervals.next_start(self.period, 0)

    def pages(self, start_ms, end_ms):
        return self.adapter.history.open_interest_pages(
            self.coin, start_ms, end_ms, period=self.period, budget=self.budget
        )

    def earliest(self, before_ms):
        return self.adapter.history.earliest_open_interest_ms(self.coin, before_ms, budget=self.budget)

    def convert(self, page):
        times = [from_ms(point.time_ms) for point in page]
        pair_id = self.series.trading_pair_id
        stored = coverage.stored_times("open_interest", pair_id, times, self.using)
        records = [
            OpenInterestRecord(pair_id, time, point.open_interest, getattr(point, "notional_value", None))
            for time, point in zip(times, page)
            if time not in stored
        ]
        last = page[-1].time_ms
        return Page(records, page[0].time_ms, last + self.step_ms, True, len(page), last)


def has_open_interest_history(exchange):
    return hasattr(get_adapter(exchange).history, "open_interest_pages")


SOURCES = {"candles": CandleSource, "funding": FundingSource, "open_interest": OpenInterestSource}
