"""Coinbase REST candles for backfills, repair and checking built candles.

``GET /api/v3/brokerage/market/products/{product}/candles`` answers at most
350 candles of one granularity in ``[start, end)`` (unix seconds), newest
first, and leaves out intervals without trades. The engine wants ascending
pages, so ``[start_ms, end_ms)`` is walked forward in windows of 350
intervals; each answer is reversed, and rows out of order, repeated or
outside the window are counted (``skipped``) and dropped.

Intervals Coinbase does not publish (3m, 4h, 8h, 12h, 3d, 1w, 1M) are built
exactly from the longest published granularity that divides them
(``protocol.base_interval``): open of the first part, close of the last,
highest high, lowest low, summed volume. A built candle is yielded only
once every part of it has been asked for (a page boundary never splits
one), and it is closed when its interval has ended before ``now_ms``.

Every request weighs 1 and is paid from ``budget``
(``lib.budget.Budget("coinbase")``); a 429 is reported to the budget and
raised as ``RateLimited`` so a job resumes from its checkpoint.
"""

import time
import urllib.error
import urllib.parse
import urllib.request

import orjson

from apps.collectors.exchanges.coinbase import protocol
from apps.collectors.exchanges.coinbase.parser import candle_rows, parse_candle_row
from apps.collectors.exchanges.coinbase.symbols import pair_of
from apps.collectors.exchanges.events import CandleUpdate, HistoryError, MalformedFrame, RateLimited
from apps.markets import intervals as kirby_intervals
from lib.metrics import MESSAGES_RECEIVED

__all__ = ["RateLimited", "candle_pages", "earliest_candle_ms", "funding_pages", "earliest_funding_ms"]


def get(product, params, *, url=None, budget=None, timeout=30):
    """The candles list of one GET, paid from ``budget``; RateLimited or HistoryError when refused."""
    address = protocol.rest_url(product, url) + "?" + urllib.parse.urlencode(params)
    if budget is not None:
        budget.take(protocol.REQUEST_WEIGHT)
    try:
        with urllib.request.urlopen(urllib.request.Request(address), timeout=timeout) as response:
            body = orjson.loads(response.read())
    except urllib.error.HTTPError as error:
        if error.code == 429:
            raw = error.headers.get("Retry-After") if error.headers is not None else None
            limited = RateLimited(float(raw) if raw else None)
            if budget is not None:
                budget.rate_limited(limited.retry_after)
            raise limited from None
        raise HistoryError(f"{address}: HTTP {error.code}: {error.read()[:200]!r}") from None
    except orjson.JSONDecodeError:
        raise HistoryError(f"{address}: the response is not JSON") from None
    try:
        return candle_rows(body)
    except MalformedFrame as error:
        raise HistoryError(f"{address}: {error}") from None


def _published_pages(product, interval, start_ms, end_ms, *, url, now_ms, budget, skipped):
    """Ascending pages of the granularity Coinbase publishes, windows of 350 intervals from ``start_ms``."""
    granularity = protocol.GRANULARITIES[interval]
    cursor = start_ms
    while cursor < end_ms:
        window_end = min(end_ms, kirby_intervals.shift(interval, cursor, protocol.MAX_CANDLES))
        # The last second of the window: the same rows whether Coinbase reads ``end`` inclusive or not.
        params = {"start": cursor // 1000, "end": (window_end - 1) // 1000, "granularity": granularity,
                  "limit": protocol.MAX_CANDLES}  # fmt: skip
        rows = get(product, params, url=url, budget=budget)
        now = now_ms if now_ms is not None else int(time.time() * 1000)
        kept = []
        for row in reversed(rows):
            try:
                candle = parse_candle_row(row, product, interval, now)
            except MalformedFrame:
                candle = None
            if (
                candle is None
                or not cursor <= candle.open_ms < window_end
                or (kept and candle.open_ms <= kept[-1].open_ms)
            ):
                skipped.append(row)
                MESSAGES_RECEIVED.labels(protocol.NAME, "malformed").inc()
                continue
            kept.append(candle)
        yield kept, window_end
        cursor = window_end


def _merged(parts, product, interval, open_ms, now_ms):
    close_ms = kirby_intervals.shift(interval, open_ms, 1) - 1
    return CandleUpdate(
        coin=product, interval=interval, open_ms=open_ms, close_ms=close_ms, open=parts[0].open,
        high=max(p.high for p in parts), low=min(p.low for p in parts), close=parts[-1].close,
        volume=sum((p.volume for p in parts[1:]), parts[0].volume), num_trades=None, closed=close_ms < now_ms,
    )  # fmt: skip


def _first_open(interval, start_ms):
    cursor = kirby_intervals.floor(interval, start_ms)
    return cursor if cursor >= start_ms else kirby_intervals.shift(interval, cursor, 1)


def candle_pages(product, interval, start_ms, end_ms, *, url=None, now_ms=None, budget=None, skipped=None):
    """Yield lists of CandleUpdate (ascending, open time in [start_ms, end_ms)), one list per answer.

    ``product`` is the Coinbase product id (``BTC-USD``). Intervals without
    trades are absent, as Coinbase leaves them out.
    """
    pair_of(product)
    if interval not in protocol.INTERVALS:
        raise HistoryError(f"Coinbase candles have no {interval!r} interval")
    skipped = [] if skipped is None else skipped
    start = _first_open(interval, start_ms)
    if start >= end_ms:
        return
    base = protocol.base_interval(interval)
    if base == interval:
        for page, _ in _published_pages(product, interval, start, end_ms, url=url, now_ms=now_ms, budget=budget,
                                        skipped=skipped):  # fmt: skip
            if page:
                yield page
        return
    # Built intervals: windows end on a built candle's open, so no candle is split across answers.
    end = _first_open(interval, end_ms)
    parts, current = [], None
    for page, window_end in _published_pages(product, base, start, end, url=url, now_ms=now_ms, budget=budget,
                                             skipped=skipped):  # fmt: skip
        now = now_ms if now_ms is not None else int(time.time() * 1000)
        built = []
        for part in page:
            open_ms = kirby_intervals.floor(interval, part.open_ms)
            if current is not None and open_ms != current:
                built.append(_merged(parts, product, interval, current, now))
                parts = []
            current = open_ms
            parts.append(part)
        # Everything before the window's end has been asked for: a candle ending there is whole.
        if current is not None and kirby_intervals.shift(interval, current, 1) <= window_end:
            built.append(_merged(parts, product, interval, current, now))
            parts, current = [], None
        if built:
            yield built
    if parts:
        yield [_merged(parts, product, interval, current, now_ms if now_ms is not None else int(time.time() * 1000))]


def earliest_candle_ms(product, interval, before_ms, *, url=None, budget=None):
    """Open time of the oldest candle in the 350 intervals just before ``before_ms``, or None.

    A window with nothing before the first candle a job found means the
    history starts there (the job's ``available_from``).
    """
    base = protocol.base_interval(interval)
    start = max(0, kirby_intervals.shift(base, kirby_intervals.floor(base, before_ms - 1), 1 - protocol.MAX_CANDLES))
    params = {"start": start // 1000, "end": (before_ms - 1) // 1000, "granularity": protocol.GRANULARITIES[base],
              "limit": protocol.MAX_CANDLES}  # fmt: skip
    rows = get(product, params, url=url, budget=budget)
    oldest = min((parse_candle_row(row, product, base, 0).open_ms for row in rows), default=None)
    return None if oldest is None else kirby_intervals.floor(interval, oldest)


def funding_pages(product, start_ms, end_ms, *, url=None, budget=None):
    """Coinbase spot has no funding: nothing to page."""
    return iter(())


def earliest_funding_ms(product, before_ms, *, url=None, budget=None):
    return None
