"""What the stream reads from the database: starlisting names (apps.marketdata.series), and history.

Synchronous on purpose: the consumer calls these through
``database_sync_to_async``; the publisher calls them in the writer's thread.
Names are read by id with one small query per batch or subscription.
"""

from apps.marketdata import queries
from apps.marketdata.series import Series, starlistings, starlistings_of_pairs
from apps.streaming import groups
from lib.http.params import Window

__all__ = ["Series", "history_texts", "starlistings", "starlistings_of_pairs"]


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
