"""Binance REST kline history for backfills: spot or USD-M futures by the series name's market.

Pages go forward: ``startTime`` = last open time + 1, ``endTime`` = the
window's last millisecond, ``limit`` = the market's maximum, until a page
comes back short or the window ``[start_ms, end_ms)`` (open times, UTC epoch
ms) is covered. A 429 or 418 is waited out for its ``Retry-After`` seconds
(at most ``KIRBY_BINANCE_MAX_BACKOFF_SECONDS``, a few times) and the page is
asked again; beyond that ``RateLimited`` is raised so a job can reschedule.

Every request is paid for from ``budget`` (``apps.backfill.budget.Budget``)
when one is given: the klines weight of its market and limit
(``protocol.klines_weight``); a 429 or 418 is reported to it.
"""

import time
import urllib.error
import urllib.parse
import urllib.request

import orjson
from django.conf import settings

from apps.collectors.exchanges.binance import protocol
from apps.collectors.exchanges.binance.parser import parse_kline_row
from apps.collectors.exchanges.binance.symbols import split_name

RETRIES = 5
DEFAULT_RETRY_AFTER = 1.0


class RateLimited(Exception):
    """429 (slow down) or 418 (IP banned); ``retry_after`` in seconds when the exchange said."""

    def __init__(self, status, retry_after=None):
        self.status, self.retry_after = status, retry_after
        super().__init__(f"HTTP {status}: rate limited (retry after {retry_after} s)")


class HistoryError(Exception):
    pass


class Client:
    """GETs JSON from one Binance market, waiting out rate limits; remembers the last used weight."""

    def __init__(self, market, base_url=None, timeout=30, sleep=time.sleep, budget=None):
        self.market, self.base_url, self.timeout, self.sleep = market, base_url, timeout, sleep
        self.budget = budget
        self.used_weight = None
        self.waited_seconds = 0.0

    def get(self, params):
        url = protocol.klines_url(self.market, self.base_url) + "?" + urllib.parse.urlencode(params)
        weight = protocol.klines_weight(self.market, params.get("limit", protocol.MAX_KLINES[self.market]))
        for attempt in range(RETRIES + 1):
            if self.budget is not None:
                self.budget.take(weight)
            try:
                return self._get_once(url)
            except RateLimited as limited:
                if self.budget is not None:
                    self.budget.rate_limited(limited.retry_after)
                wait = limited.retry_after if limited.retry_after is not None else DEFAULT_RETRY_AFTER
                if attempt == RETRIES or wait > settings.KIRBY_BINANCE_MAX_BACKOFF_SECONDS:
                    raise
                self.waited_seconds += wait
                self.sleep(wait)
        raise AssertionError("unreachable")

    def _get_once(self, url):
        request = urllib.request.Request(url, headers={"Accept": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                self.used_weight = response.headers.get(protocol.USED_WEIGHT_HEADER)
                body = response.read()
        except urllib.error.HTTPError as error:
            if error.code in (418, 429):
                raw = error.headers.get("Retry-After")
                raise RateLimited(error.code, float(raw) if raw else None) from None
            raise HistoryError(f"{url}: HTTP {error.code}: {error.read()[:200]!r}") from None
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            raise HistoryError(f"{url}: the response is not JSON") from None


def candle_pages(coin, interval, start_ms, end_ms, *, url=None, now_ms=None, client=None, budget=None):
    """Yield lists of CandleUpdate (ascending, open time in [start_ms, end_ms)), one list per page.

    ``coin`` is the adapter's series name (``spot:BTCUSDT`` or ``usdm:BTCUSDT``,
    see symbols); ``url`` overrides the market's base URL (the simulator in
    tests). A candle counts as closed once its close time is before ``now_ms``
    (default: the wall clock when the page arrived).
    """
    market, symbol = split_name(coin)
    if interval not in protocol.INTERVALS:
        raise HistoryError(f"Binance has no {interval!r} klines")
    client = client or Client(market, url, budget=budget)
    limit = protocol.MAX_KLINES[market]
    cursor = start_ms
    while cursor < end_ms:
        params = {"symbol": symbol, "interval": interval, "startTime": cursor, "endTime": end_ms - 1, "limit": limit}
        page = client.get(params)
        if not isinstance(page, list):
            raise HistoryError(f"klines: expected a list, got {type(page).__name__}")
        now = now_ms if now_ms is not None else int(time.time() * 1000)
        candles = [parse_kline_row(row, coin, interval, now) for row in page]
        candles = [c for c in candles if start_ms <= c.open_ms < end_ms and c.open_ms >= cursor]
        if candles:
            yield candles
        if len(page) < limit or not candles:
            return
        cursor = candles[-1].open_ms + 1


def earliest_candle_ms(coin, interval, before_ms, *, url=None, budget=None):
    """Open time of the oldest kline Binance serves (before ``before_ms``), or None."""
    market, symbol = split_name(coin)
    client = Client(market, url, budget=budget)
    page = client.get({"symbol": symbol, "interval": interval, "startTime": 0, "endTime": before_ms - 1, "limit": 1})
    return int(page[0][0]) if isinstance(page, list) and page else None
