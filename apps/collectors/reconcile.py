"""Checking a candle Kirby built from trades against the exchange's own REST candle for the same interval.

The REST candle is the venue's record: when the two differ, its values are
stored and the difference is counted (``kirby_built_candles_total``,
outcome ``differed``), so an operator sees how often live aggregation
disagrees. A candle built from part of its trades (the interval a
connection started in) is settled the same way but counted as ``partial``.
When REST has no candle for the interval yet, the check is tried again a
few times; after that the built candle is stored as it is
(``unconfirmed``).
"""

from lib.metrics import BUILT_CANDLES

ATTEMPTS = 4
RETRY_SECONDS = 3.0


def _values(candle):
    return candle.open, candle.high, candle.low, candle.close, candle.volume


def rest_candle(adapter, update, budget):
    """The exchange's REST candle opening when ``update`` does, or None when REST has none (yet)."""
    end = update.close_ms + 1
    pages = adapter.history.candle_pages(update.coin, update.interval, update.open_ms, end, budget=budget, now_ms=end)
    return next((c for page in pages for c in page if c.open_ms == update.open_ms), None)


def settle(built, rest, *, exchange, last_attempt):
    """(the closed CandleUpdate to store or None to ask again later, outcome) for one closed BuiltCandle."""
    update = built.update._replace(closed=True)
    if rest is None:
        if not last_attempt:
            return None, None
        outcome, final = "unconfirmed", update
    elif _values(rest) == _values(update):
        outcome, final = "equal", update
    else:
        outcome = "differed" if built.complete else "partial"
        final = rest._replace(coin=update.coin, interval=update.interval, close_ms=update.close_ms, closed=True)
    BUILT_CANDLES.labels(exchange, outcome).inc()
    return final, outcome
