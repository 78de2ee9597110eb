"""Bybit V5 REST history for backfills: kline, funding/history, open-interest; recent-trade for the stream.

Bybit answers every range newest first, capped at the endpoint's page size,
and refuses ``startTime`` without ``endTime`` on funding. The engine wants
ascending pages, so the window ``[start_ms, end_ms)`` is walked forward in
sub-windows that cannot hold more rows than one answer: 1000 intervals of
klines, 200 hours of funding (Bybit settles at most hourly), 200 periods of
open interest. Each answer is reversed; rows out of order, repeated or
outside the sub-window are counted (``skipped``) and dropped. An empty
sub-window (before the symbol was listed) moves on to the next.

Every request weighs 1 and is paid for from ``budget``
(``lib.budget.Budget("bybit")``) when one is given. A 429, a 403
("access too frequent") or retCode 10006/10018 is reported to the budget and
raised as ``RateLimited``: the job resumes from its checkpoint once Bybit's
own budget lets it, and no other exchange waits.
"""

import time
import urllib.error
import urllib.parse
import urllib.request

import orjson

from apps.collectors.exchanges.bybit import protocol
from apps.collectors.exchanges.bybit.parser import (
    parse_funding_row,
    parse_kline_row,
    parse_open_interest_row,
    parse_trade_row,
    result_list,
)
from apps.collectors.exchanges.bybit.symbols import split_name
from apps.collectors.exchanges.events import HistoryError, MalformedFrame, RateLimited, ascending
from apps.markets import intervals as kirby_intervals
from lib.metrics import MESSAGES_RECEIVED

HOUR_MS = 3_600_000
RATE_LIMIT_CODES = (10006, 10018)  # "too many visits", "exceeded the IP rate limit"
RESET_HEADER = "X-Bapi-Limit-Reset-Timestamp"


def _retry_after(headers):
    reset = headers.get(RESET_HEADER) if headers is not None else None
    if reset and reset.isdigit():
        return max(0.0, int(reset) / 1000 - time.time())
    raw = headers.get("Retry-After") if headers is not None else None
    return float(raw) if raw else None


def get(path, params, *, url=None, budget=None, timeout=30):
    """``result.list`` of one GET, paid from ``budget``; RateLimited or HistoryError when refused."""
    address = protocol.rest_url(path, url) + "?" + urllib.parse.urlencode(params)
    if budget is not None:
        budget.take(protocol.REQUEST_WEIGHT)
    try:
        with urllib.request.urlopen(urllib.request.Request(address), timeout=timeout) as response:
            body = orjson.loads(response.read())
    except urllib.error.HTTPError as error:
        if error.code in (403, 429):
            limited = RateLimited(_retry_after(error.headers))
            if budget is not None:
                budget.rate_limited(limited.retry_after)
            raise limited from None
        raise HistoryError(f"{address}: HTTP {error.code}: {error.read()[:200]!r}") from None
    except orjson.JSONDecodeError:
        raise HistoryError(f"{address}: the response is not JSON") from None
    if isinstance(body, dict) and body.get("retCode") in RATE_LIMIT_CODES:
        if budget is not None:
            budget.rate_limited(None)
        raise RateLimited(None)
    try:
        return result_list(body)
    except MalformedFrame as error:
        raise HistoryError(f"{address}: {error}") from None


def candle_pages(coin, interval, start_ms, end_ms, *, url=None, now_ms=None, budget=None, skipped=None):
    """Yield lists of CandleUpdate (ascending, open time in [start_ms, end_ms)), one list per answer.

    ``coin`` is the adapter name (``linear:BTCUSDT``, ``spot:BTCUSDT``). A
    candle counts as closed once its interval ended before ``now_ms`` (default:
    the wall clock when the answer came).
    """
    category, symbol = split_name(coin)
    if interval not in protocol.INTERVALS:
        raise HistoryError(f"Bybit has no {interval!r} klines")
    skipped = [] if skipped is None else skipped
    cursor = kirby_intervals.floor(interval, start_ms)
    if cursor < start_ms:
        cursor = kirby_intervals.shift(interval, cursor, 1)
    while cursor < end_ms:
        window_end = min(end_ms, kirby_intervals.shift(interval, cursor, protocol.MAX_KLINES))
        params = {"category": category, "symbol": symbol, "interval": protocol.INTERVALS[interval],
                  "start": cursor, "end": window_end - 1, "limit": protocol.MAX_KLINES}  # fmt: skip
        rows = get(protocol.KLINE_PATH, params, url=url, budget=budget)
        now = now_ms if now_ms is not None else int(time.time() * 1000)
        candles = ascending(
            "bybit", [parse_kline_row(row, coin, interval, now) for row in rows], cursor, window_end, skipped
        )
        if candles:
            yield candles
        cursor = window_end


def earliest_candle_ms(coin, interval, before_ms, *, url=None, budget=None):
    """Open time of the oldest candle in the page of klines just before ``before_ms``, or None.

    Bybit publishes a candle for every interval since listing, so a window
    with nothing before the first candle a job found means the history
    starts there (the job's ``available_from``).
    """
    category, symbol = split_name(coin)
    start = kirby_intervals.shift(interval, kirby_intervals.floor(interval, before_ms - 1), 1 - protocol.MAX_KLINES)
    params = {"category": category, "symbol": symbol, "interval": protocol.INTERVALS[interval],
              "start": max(0, start), "end": before_ms - 1, "limit": protocol.MAX_KLINES}  # fmt: skip
    rows = get(protocol.KLINE_PATH, params, url=url, budget=budget)
    return min((parse_kline_row(row, coin, interval, 0).open_ms for row in rows), default=None)


def funding_pages(coin, start_ms, end_ms, *, url=None, budget=None, skipped=None):
    """Yield lists of FundingPoint (ascending, settlement time in [start_ms, end_ms)), one list per answer."""
    category, symbol = split_name(coin)
    skipped = [] if skipped is None else skipped
    cursor = start_ms
    while cursor < end_ms:
        window_end = min(end_ms, cursor + protocol.MAX_FUNDING_ROWS * HOUR_MS)
        params = {"category": category, "symbol": symbol, "startTime": cursor, "endTime": window_end - 1,
                  "limit": protocol.MAX_FUNDING_ROWS}  # fmt: skip
        rows = get(protocol.FUNDING_PATH, params, url=url, budget=budget)
        points = ascending("bybit", [parse_funding_row(row, coin) for row in rows], cursor, window_end, skipped)
        if points:
            yield points
        cursor = window_end


def earliest_funding_ms(coin, before_ms, *, url=None, budget=None):
    """Time of the oldest settlement in the funding page just before ``before_ms``, or None."""
    category, symbol = split_name(coin)
    start = max(0, before_ms - protocol.MAX_FUNDING_ROWS * HOUR_MS)
    params = {"category": category, "symbol": symbol, "startTime": start, "endTime": before_ms - 1,
              "limit": protocol.MAX_FUNDING_ROWS}  # fmt: skip
    rows = get(protocol.FUNDING_PATH, params, url=url, budget=budget)
    return min((parse_funding_row(row, coin).time_ms for row in rows), default=None)


OPEN_INTEREST_PERIOD = "5m"  # the finest Bybit keeps


def open_interest_pages(coin, start_ms, end_ms, *, period=OPEN_INTEREST_PERIOD, url=None, budget=None, skipped=None):
    """Yield lists of OpenInterestPoint (ascending, time in [start_ms, end_ms)), one every ``period``.

    Bybit keeps open interest at 5m, 15m, 30m, 1h, 4h and 1d back to the
    symbol's launch; its answers are cursor-paged, which sub-windows of 200
    periods make unnecessary (a window never holds more than one page).
    """
    category, symbol = split_name(coin)
    bybit_period = protocol.OPEN_INTEREST_PERIODS.get(period)
    if bybit_period is None:
        periods = ", ".join(protocol.OPEN_INTEREST_PERIODS)
        raise HistoryError(f"Bybit keeps no {period!r} open interest; periods: {periods}")
    skipped = [] if skipped is None else skipped
    cursor = kirby_intervals.floor(period, start_ms)
    if cursor < start_ms:
        cursor = kirby_intervals.shift(period, cursor, 1)
    while cursor < end_ms:
        window_end = min(end_ms, kirby_intervals.shift(period, cursor, protocol.MAX_OPEN_INTEREST_ROWS))
        params = {"category": category, "symbol": symbol, "intervalTime": bybit_period, "startTime": cursor,
                  "endTime": window_end - 1, "limit": protocol.MAX_OPEN_INTEREST_ROWS}  # fmt: skip
        rows = get(protocol.OPEN_INTEREST_PATH, params, url=url, budget=budget)
        points = ascending("bybit", [parse_open_interest_row(row, coin) for row in rows], cursor, window_end, skipped)
        if points:
            yield points
        cursor = window_end


def earliest_open_interest_ms(coin, before_ms, *, period=OPEN_INTEREST_PERIOD, url=None, budget=None):
    """Time of the oldest open-interest point in the page just before ``before_ms``, or None."""
    category, symbol = split_name(coin)
    start = kirby_intervals.shift(
        period, kirby_intervals.floor(period, before_ms - 1), 1 - protocol.MAX_OPEN_INTEREST_ROWS
    )
    period_name, limit = protocol.OPEN_INTEREST_PERIODS[period], protocol.MAX_OPEN_INTEREST_ROWS
    params = {"category": category, "symbol": symbol, "intervalTime": period_name, "startTime": max(0, start),
              "endTime": before_ms - 1, "limit": limit}  # fmt: skip
    rows = get(protocol.OPEN_INTEREST_PATH, params, url=url, budget=budget)
    return min((parse_open_interest_row(row, coin).time_ms for row in rows), default=None)


def recent_trades(coin, *, url=None, budget=None):
    """The latest trades of ``coin`` (``linear:BTCUSDT``), oldest first: the most Bybit answers (1000 linear,
    60 spot), so a stream that reconnects stores what it missed while away. A bad row is counted and skipped."""
    category, symbol = split_name(coin)
    limit = protocol.RECENT_TRADES_LIMIT[category]
    rows = get(protocol.RECENT_TRADES_PATH, {"category": category, "symbol": symbol, "limit": limit}, url=url,
               budget=budget)  # fmt: skip
    trades = []
    for row in rows:
        try:
            trades.append(parse_trade_row(row, coin))
        except MalformedFrame:
            MESSAGES_RECEIVED.labels("bybit", "malformed").inc()
    return sorted(trades, key=lambda trade: trade.time_us)
