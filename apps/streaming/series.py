"""What the stream reads from the database: starlisting names, and history.

Synchronous on purpose: the consumer calls these through
``database_sync_to_async``; the publisher calls them in the writer's thread.
Names are read by id with one small query per batch or subscription.
"""

from typing import NamedTuple

from django.db import connections

from apps.marketdata import queries
from apps.streaming import groups
from lib.http.params import Window

# Names are read back by id (as in apps.marketdata.queries) so PostgreSQL
# plans no multi-table join.
_SQL = """
SELECT s.id, s.active, s.trading_pair_id,
       (SELECT name FROM exchanges WHERE id = tp.exchange_id),
       (SELECT symbol FROM coins WHERE id = tp.coin_id),
       (SELECT symbol FROM quote_currencies WHERE id = tp.quote_id),
       (SELECT name FROM market_types WHERE id = tp.market_type_id),
       (SELECT name FROM intervals WHERE id = s.interval_id)
FROM starlistings s JOIN trading_pairs tp ON tp.id = s.trading_pair_id
WHERE {column} = ANY(%s)
ORDER BY s.id
"""


class Series(NamedTuple):
    """A starlisting with the names clients see."""

    id: int
    active: bool
    trading_pair_id: int
    exchange: str
    coin: str
    quote: str
    market_type: str
    interval: str

    @property
    def trading_pair(self):
        return f"{self.coin}/{self.quote}"


def _select(column, ids, using):
    with connections[using].cursor() as cursor:
        cursor.execute(_SQL.format(column=column), [list(ids)])
        return [Series(*row) for row in cursor.fetchall()]


def starlistings(ids, using="default"):
    """``{id: Series}`` for the known ids among ``ids`` (active or not)."""
    return {series.id: series for series in _select("s.id", ids, using)}


def starlistings_of_pairs(trading_pair_ids, using="default"):
    """``{trading pair id: [Series, ...]}``: every starlisting of each pair, by id."""
    by_pair = {}
    for series in _select("s.trading_pair_id", trading_pair_ids, using):
        by_pair.setdefault(series.trading_pair_id, []).append(series)
    return by_pair


def history_texts(series, count, channels, with_pair_series=True, using="default"):
    """The history messages of one starlisting, newest ``count`` rows of each channel, ascending.

    Funding and open interest belong to the pair: when several intervals of
    one pair are subscribed together they are sent once (``with_pair_series``
    is false for the others). Empty series send nothing.
    """
    window = Window(start=None, end=None, limit=count)
    found = []
    if groups.CANDLES in channels:
        found.append((groups.CANDLES, queries.candle_rows(series.id, window, using=using, interval=series.interval)))
    if with_pair_series and groups.FUNDING in channels:
        rows = queries.funding_rows(series.trading_pair_id, window, using=using)
        found.append((groups.FUNDING, rows[::-1]))  # newest first there
    if with_pair_series and groups.OPEN_INTEREST in channels:
        rows = queries.open_interest_rows(series.trading_pair_id, window, using=using)
        found.append((groups.OPEN_INTEREST, rows[::-1]))
    return [groups.history_text(channel, series, items) for channel, items in found if items]
