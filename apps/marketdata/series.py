"""One series of one data type, named: a starlisting's candles, or a pair's funding rates or open interest.

One type for every app: backfill and the gap ledger reason about its slots,
the WebSocket stream labels its messages with its names. Its *slots* are
the times rows are expected at: candle open times of the starlisting's
interval; funding hours (history is hourly); open-interest periods of
KIRBY_CONTEXT_PERIOD_SECONDS (rows are stamped at period ends).
"""

from dataclasses import dataclass

from django.conf import settings
from django.db import connections

from apps.marketdata import coverage
from apps.markets.models import Starlisting, TradingPair
from apps.markets.slots import Slots


@dataclass(frozen=True, slots=True)
class Series:
    data_type: str
    trading_pair_id: int
    starlisting_id: int | None
    exchange: str
    coin: str
    quote: str
    market_type: str
    interval: str | None = None
    active: bool = True

    @property
    def id(self):
        """The starlisting's id for candles (the id clients subscribe to), else the trading pair's."""
        return self.series_id

    @property
    def trading_pair(self):
        return f"{self.coin}/{self.quote}"

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
        return coverage.slots_present(self.data_type, self.series_id, start_ms, end_ms, using)

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


# Names are read back by id (as in apps.marketdata.queries) so PostgreSQL plans no multi-table join.
_STARLISTINGS_SQL = """
SELECT s.trading_pair_id, s.id,
       (SELECT name FROM exchanges WHERE id = tp.exchange_id),
       (SELECT symbol FROM coins WHERE id = tp.coin_id),
       (SELECT symbol FROM quote_currencies WHERE id = tp.quote_id),
       (SELECT name FROM market_types WHERE id = tp.market_type_id),
       (SELECT name FROM intervals WHERE id = s.interval_id),
       s.active
FROM starlistings s JOIN trading_pairs tp ON tp.id = s.trading_pair_id
WHERE {column} = ANY(%s)
ORDER BY s.id
"""


def _candle_series(column, ids, using):
    with connections[using].cursor() as cursor:
        cursor.execute(_STARLISTINGS_SQL.format(column=column), [list(ids)])
        return [Series("candles", *row) for row in cursor.fetchall()]


def starlistings(ids, using="default"):
    """``{starlisting id: Series}`` of the candles of the known ids among ``ids`` (active or not)."""
    return {series.id: series for series in _candle_series("s.id", ids, using)}


def starlistings_of_pairs(trading_pair_ids, using="default"):
    """``{trading pair id: [Series, ...]}``: the candle series of every starlisting of each pair, by id."""
    by_pair = {}
    for series in _candle_series("s.trading_pair_id", trading_pair_ids, using):
        by_pair.setdefault(series.trading_pair_id, []).append(series)
    return by_pair
