"""The training backfill's unit: one starlisting's candles over ``[start, end)`` into one database, via the engine.

Pages are written as they arrive (history is not live news: nothing is
published), so an interrupted fill keeps what it stored and a re-run
rewrites nothing that is already there. Candles whose interval had not
ended when the page was fetched are stored open, and closed by a later
fill. REST calls are paid from the exchange's budget.
"""

from apps.backfill import engine
from apps.backfill.sources import CandleSource
from apps.marketdata.series import candle_series
from lib.budget import Budget
from lib.timeutil import to_ms


def fill_candles(starlisting, start, end, database, progress=None):
    """Store the exchange's candles of ``starlisting`` with open time in ``[start, end)`` into ``database``.

    ``starlisting`` is a Starlisting loaded from ``database``; ``progress``
    (optional) is called with the running engine.Filled after every page.
    """
    series = candle_series(starlisting.id, database)
    source = CandleSource(series, Budget(series.exchange), using=database, keep_open=True)
    return engine.fill(source, to_ms(start), to_ms(end), purpose="training", publish=False, after_page=progress)
