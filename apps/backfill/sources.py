"""Where a job's rows come from: an exchange adapter's REST history, page by page.

An adapter provides ``history.candle_pages(coin, interval, start_ms, end_ms,
budget=)`` yielding lists of CandleUpdate and ``history.funding_pages(coin,
start_ms, end_ms, budget=)`` yielding lists of points with ``time_ms``,
``funding_rate`` and ``premium``; both ascending, within ``[start, end)``.
``history.earliest_candle_ms(coin, interval, before_ms, budget=)`` and
``history.earliest_funding_ms(coin, before_ms, budget=)`` tell where the
exchange's history begins.
A source turns one page into records for the write path and says where the
next page starts.
"""

from typing import NamedTuple

from django.db import connections

from apps.collectors.exchanges import get_adapter
from apps.collectors.normalize import candle_records
from apps.marketdata.records import FundingRecord
from apps.marketdata.writer import write_candles, write_funding
from lib.timeutil import from_ms, to_ms

HOUR_MS = 3_600_000


class Page(NamedTuple):
    records: list
    first_ms: int | None  # time of the first row the exchange returned
    next_ms: int  # where the window continues
    final: bool  # False: the page reached the still-open present; nothing after it is final


class CandleSource:
    """Closed candles only: a candle is final once its interval has ended.

    "Ended" is judged by the latest of the clock, the newest candle the
    series has stored (open or closed: the exchange has published it, so
    every candle closing before it is final, whatever this machine's clock
    says) and ``final_before_ms`` (a gap's end: the ledger only records gaps
    that end where a later row exists or the clock says slots have ended).
    """

    write = staticmethod(write_candles)

    def __init__(self, series, budget, final_before_ms, using="default"):
        self.series, self.budget = series, budget
        self.adapter = get_adapter(series.exchange)
        self.coin = self.adapter.symbols.coin_name(series.coin, series.quote, series.market_type)
        with connections[using].cursor() as cursor:
            cursor.execute("SELECT max(time) FROM candles WHERE starlisting_id = %s", [series.starlisting_id])
            newest = cursor.fetchone()[0]
        self.final_before = max(final_before_ms, to_ms(newest) if newest else 0)

    def pages(self, start_ms, end_ms):
        return self.adapter.history.candle_pages(self.coin, self.series.interval, start_ms, end_ms, budget=self.budget)

    def earliest(self, before_ms):
        return self.adapter.history.earliest_candle_ms(self.coin, self.series.interval, before_ms, budget=self.budget)

    def convert(self, page):
        records, next_ms = [], None
        for position, candle in enumerate(page):
            if position == len(page) - 1 and candle.close_ms >= self.final_before:
                return Page(records, page[0].open_ms, next_ms or candle.open_ms, False)
            records.extend(candle_records(candle._replace(closed=True), [self.series.starlisting_id]))
            next_ms = candle.close_ms + 1
        return Page(records, page[0].open_ms, next_ms, True)


class FundingSource:
    """Settled hourly funding. Rows the live collector stored are kept: they carry prices history lacks."""

    write = staticmethod(write_funding)

    def __init__(self, series, budget, final_before_ms, using="default"):
        self.series, self.budget, self.using = series, budget, using
        self.adapter = get_adapter(series.exchange)
        self.coin = self.adapter.symbols.coin_name(series.coin, series.quote, series.market_type)

    def pages(self, start_ms, end_ms):
        return self.adapter.history.funding_pages(self.coin, start_ms, end_ms, budget=self.budget)

    def earliest(self, before_ms):
        return self.adapter.history.earliest_funding_ms(self.coin, before_ms, budget=self.budget)

    def convert(self, page):
        times = [from_ms(point.time_ms) for point in page]
        with connections[self.using].cursor() as cursor:
            cursor.execute(
                "SELECT time FROM funding_rates WHERE trading_pair_id = %s AND time = ANY(%s)",
                [self.series.trading_pair_id, times],
            )
            stored = {row[0] for row in cursor.fetchall()}
        records = [
            FundingRecord(self.series.trading_pair_id, time, point.funding_rate, point.premium)
            for time, point in zip(times, page)
            if time not in stored
        ]
        return Page(records, page[0].time_ms, page[-1].time_ms + HOUR_MS, True)


SOURCES = {"candles": CandleSource, "funding": FundingSource}
