"""Page an exchange's REST candle history into one database through the one write path.

``fill_candles`` is the unit a backfill job runs: one starlisting, one
half-open window ``[start, end)`` of candle open times (UTC), one database
alias. Pages are written as they arrive (``write_candles(publish=False)``:
history is not live news), so an interrupted fill keeps what it stored and a
re-run rewrites nothing that is already there. Candles whose interval had
not ended when the page was fetched are stored open, and closed by a later
fill.
"""

from dataclasses import dataclass

from apps.collectors.normalize import candle_records
from apps.marketdata.writer import write_candles
from lib.timeutil import to_ms


@dataclass
class FillResult:
    pages: int = 0
    received: int = 0
    inserted: int = 0
    updated: int = 0
    rejected: int = 0
    last_ms: int | None = None  # open time of the last candle received


def fill_candles(adapter, starlisting, start, end, database, progress=None):
    """Store the exchange's candles of ``starlisting`` with open time in ``[start, end)`` into ``database``.

    ``starlisting`` is a Starlisting loaded from ``database``; ``progress``
    (optional) is called with the running FillResult after every page.
    """
    pair = starlisting.trading_pair
    name = adapter.symbols.coin_name(pair.coin.symbol, pair.quote.symbol, pair.market_type.name)
    result = FillResult()
    for page in adapter.history.candle_pages(name, starlisting.interval.name, to_ms(start), to_ms(end)):
        records = [record for candle in page for record in candle_records(candle, [starlisting.id])]
        written = write_candles(records, publish=False, using=database, exchange=adapter.name)
        result.pages += 1
        result.received += written.received
        result.inserted += written.inserted
        result.updated += written.updated
        result.rejected += written.rejected
        result.last_ms = page[-1].open_ms
        if progress is not None:
            progress(result)
    return result
