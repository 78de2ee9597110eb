"""Market data in the response cache (lib/cache): tags and keys of the cached reads, and the write path's hook.

An answer about one series depends on that series' tag (``candles:<starlisting id>``,
``funding_rates:<pair id>``, ``open_interest:<pair id>``) and on the reference data
(a deactivated starlisting no longer answers). The write path calls ``series_written``
after every commit that changed rows, published or not (backfill too), so the next read
computes the new answer. Keys carry everything that changes an answer: the series names as
the request spells them (case-folded where the lookup ignores case), the window and the format.
"""

from lib import cache

FORMAT = "v1"  # the body layout; bump when it changes so no old body is served


def series_tag(table, series_id):
    return f"{table}:{series_id}"


def series_written(table, series_ids):
    cache.invalidate(series_tag(table, series_id) for series_id in series_ids)


def _time(moment):
    return "" if moment is None else moment.isoformat()


def candles_key(exchange, coin, quote, market_type, interval, window):
    pair = "/".join(name.lower() for name in (exchange, coin, quote, market_type))
    return f"{FORMAT}:candles:{pair}/{interval}:{_time(window.start)}:{_time(window.end)}:{window.limit}"


def pair_series_key(table, exchange, coin, quote, market_type, window):
    pair = "/".join(name.lower() for name in (exchange, coin, quote, market_type))
    return f"{FORMAT}:{table}:{pair}:{window.limit}"
