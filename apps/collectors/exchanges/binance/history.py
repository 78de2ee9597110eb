"""Binance REST history for backfills and repair (klines, funding, open interest, aggregate trades a stream
missed while reconnecting), the open-interest poll and the order-book snapshot a live book starts from.

Candles from spot or USD-M futures by the series name's market; funding and
open interest from USD-M futures only.

Pages go forward: ``startTime`` = last open time + 1, ``endTime`` = the
window's last millisecond, ``limit`` = the market's maximum, until a page
comes back short or the window ``[start_ms, end_ms)`` (open times, UTC epoch
ms) is covered. A 429 or 418 is waited out for its ``Retry-After`` seconds
(at most ``KIRBY_BINANCE_MAX_BACKOFF_SECONDS``, a few times) and the page is
asked again; beyond that ``RateLimited`` is raised so a job can reschedule.

Every request is paid for from ``budget`` (``lib.budget.Budget``)
when one is given: the weight of the call (``protocol.klines_weight`` for
klines); a 429 or 418 is reported to it. Funding and open-interest pages
go forward the same way, by ``fundingTime`` / ``timestamp``.
"""

import time
import urllib.error
import urllib.parse
import urllib.request
from typing import NamedTuple

import orjson
from django.conf import settings

from apps.collectors.exchanges.binance import protocol
from apps.collectors.exchanges.binance.parser import (
    parse_agg_trade,
    parse_depth_snapshot,
    parse_kline_row,
    parse_open_interest,
)
from apps.collectors.exchanges.binance.symbols import split_name
from apps.collectors.exchanges.events import HistoryError, MalformedFrame, decimal, integer

RETRIES = 5
DEFAULT_RETRY_AFTER = 1.0


class RateLimited(Exception):
    """429 (slow down) or 418 (IP banned); ``retry_after`` in seconds when the exchange said."""

    def __init__(self, status, retry_after=None):
        self.status, self.retry_after = status, retry_after
        super().__init__(f"HTTP {status}: rate limited (retry after {retry_after} s)")


class Client:
    """GETs JSON from one Binance market, waiting out rate limits; remembers the last used weight."""

    def __init__(self, market, base_url=None, timeout=30, sleep=time.sleep, budget=None):
        self.market, self.base_url, self.timeout, self.sleep = market, base_url, timeout, sleep
        self.budget = budget
        self.used_weight = None
        self.waited_seconds = 0.0

    def get(self, params, path=None, weight=None):
        """GET ``path`` (default: the market's klines) with ``params``, paying ``weight`` (default: klines')."""
        base = (self.base_url or protocol.base_url(self.market)).rstrip("/")
        url = base + (path or protocol.KLINES_PATH[self.market]) + "?" + urllib.parse.urlencode(params)
        if weight is None:
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


HOUR_MS = 3_600_000


def _usdm(coin):
    market, symbol = split_name(coin)
    if market != protocol.USDM:
        raise HistoryError(f"{coin}: funding and open interest exist on USD-M futures only")
    return symbol


def poll_context(coin, *, url=None, budget=None):
    """The open interest of a USD-M perpetual now (``GET /fapi/v1/openInterest``), as [OpenInterestUpdate]."""
    client = Client(protocol.USDM, url, budget=budget)
    body = client.get({"symbol": _usdm(coin)}, protocol.OPEN_INTEREST_PATH, protocol.OPEN_INTEREST_WEIGHT)
    return [parse_open_interest(body)]


def book_snapshot(name, *, url=None, budget=None):
    """The order book of series ``name`` now (``GET /fapi/v1/depth`` or ``/api/v3/depth``, 1000 levels a side) as a
    BookSnapshot at its ``lastUpdateId``: where the stream's diff-depth events start from."""
    market, symbol = split_name(name)
    client = Client(market, url, budget=budget)
    body = client.get({"symbol": symbol, "limit": protocol.DEPTH_LIMIT}, protocol.DEPTH_PATH[market],
                      protocol.DEPTH_WEIGHT[market])  # fmt: skip
    return parse_depth_snapshot(body, name)


def trade_pages(name, start_ms, end_ms, *, url=None, budget=None, limit=protocol.MAX_AGG_TRADES):
    """Yield lists of TradeUpdate (aggregate trades, ascending) with times in ``[start_ms, end_ms)``.

    ``GET .../aggTrades``: the first page by ``startTime``/``endTime`` (Binance allows an hour at most; an
    empty hour moves on to the next), later ones by ``fromId`` after the last id, up to ``end_ms``.
    """
    market, symbol = split_name(name)
    client = Client(market, url, budget=budget)
    path, weight = protocol.AGG_TRADES_PATH[market], protocol.AGG_TRADES_WEIGHT[market]
    cursor, params = start_ms, None
    while True:
        if params is None:
            if cursor >= end_ms:
                return
            params = {"symbol": symbol, "startTime": cursor, "endTime": min(end_ms, cursor + HOUR_MS) - 1,
                      "limit": limit}  # fmt: skip
        page = client.get(params, path, weight)
        if not isinstance(page, list) or not all(isinstance(row, dict) for row in page):
            raise HistoryError(f"{path}: expected a list of trades")
        trades = [parse_agg_trade({**row, "s": symbol}, market) for row in page]
        inside = [t for t in trades if start_ms * 1000 <= t.time_us < end_ms * 1000]
        if inside:
            yield inside
        if trades and trades[-1].time_us >= end_ms * 1000:
            return
        if len(page) == limit:
            params = {"symbol": symbol, "fromId": int(trades[-1].trade_id) + 1, "limit": limit}
        elif "fromId" in params:
            return  # caught up with the present
        else:
            cursor, params = params["endTime"] + 1, None


class FundingPoint(NamedTuple):
    time_ms: int  # the funding time floored to the hour (Binance's carry a few ms of jitter)
    funding_rate: object
    premium: object = None


def parse_funding(item):
    if not isinstance(item, dict):
        raise MalformedFrame(f"funding row is not an object: {item!r}")
    time_ms = integer(item.get("fundingTime"), "fundingTime")
    return FundingPoint(time_ms // HOUR_MS * HOUR_MS, decimal(item.get("fundingRate"), "fundingRate"))


def _forward(client, path, weight, params, start_ms, end_ms, limit, time_field, parse):
    """Pages of ``path`` forward from ``start_ms`` by ``time_field`` (ascending); parsed rows in [start, end)."""
    cursor = start_ms
    while cursor < end_ms:
        page = client.get({**params, "startTime": cursor, "endTime": end_ms - 1, "limit": limit}, path, weight)
        if not isinstance(page, list):
            raise HistoryError(f"{path}: expected a list, got {type(page).__name__}")
        raw_times = [item.get(time_field) for item in page if isinstance(item, dict)]
        if not raw_times:
            return
        if any(not isinstance(t, int) for t in raw_times) or raw_times != sorted(raw_times):
            raise HistoryError(f"{path}: a page out of order or without times")
        rows = [row for row in (parse(item) for item in page) if start_ms <= row.time_ms < end_ms]
        if rows:
            yield rows
        if len(page) < limit or raw_times[-1] + 1 <= cursor:
            return
        cursor = raw_times[-1] + 1


def funding_pages(coin, start_ms, end_ms, *, url=None, budget=None):
    """Yield lists of FundingPoint (ascending, hour-floored funding time in [start, end)), one list per page."""
    client = Client(protocol.USDM, url, budget=budget)
    yield from _forward(
        client, protocol.FUNDING_PATH, protocol.FUNDING_WEIGHT, {"symbol": _usdm(coin)}, start_ms, end_ms,
        protocol.MAX_FUNDING_ROWS, "fundingTime", parse_funding,
    )  # fmt: skip


def earliest_funding_ms(coin, before_ms, *, url=None, budget=None):
    client = Client(protocol.USDM, url, budget=budget)
    params = {"symbol": _usdm(coin), "startTime": 0, "endTime": before_ms - 1, "limit": 1}
    page = client.get(params, protocol.FUNDING_PATH, protocol.FUNDING_WEIGHT)
    return parse_funding(page[0]).time_ms if isinstance(page, list) and page else None


# The finest period of Binance's open-interest history (the engine's OpenInterestSource reads at it).
OPEN_INTEREST_PERIOD = "5m"


class OpenInterestPoint(NamedTuple):
    time_ms: int
    open_interest: object
    notional_value: object


def parse_open_interest_row(item):
    if not isinstance(item, dict):
        raise MalformedFrame(f"open interest row is not an object: {item!r}")
    return OpenInterestPoint(
        integer(item.get("timestamp"), "timestamp"),
        decimal(item.get("sumOpenInterest"), "sumOpenInterest"),
        decimal(item.get("sumOpenInterestValue"), "sumOpenInterestValue", nullable=True),
    )


def open_interest_pages(coin, start_ms, end_ms, *, period=OPEN_INTEREST_PERIOD, url=None, budget=None):
    """Yield lists of OpenInterestPoint at ``period`` (5m and up); Binance keeps the last 30 days only."""
    if period not in protocol.OPEN_INTEREST_HISTORY_INTERVALS:
        raise HistoryError(f"Binance has no {period!r} open interest history")
    client = Client(protocol.USDM, url, budget=budget)
    yield from _forward(
        client, protocol.OPEN_INTEREST_HISTORY_PATH, protocol.OPEN_INTEREST_HISTORY_WEIGHT,
        {"symbol": _usdm(coin), "period": period}, start_ms, end_ms, protocol.MAX_OPEN_INTEREST_ROWS, "timestamp",
        parse_open_interest_row,
    )  # fmt: skip


def earliest_open_interest_ms(coin, before_ms, *, url=None, budget=None):
    """Time of the oldest open-interest point Binance still serves (it keeps about 30 days), or None."""
    client = Client(protocol.USDM, url, budget=budget)
    params = {"symbol": _usdm(coin), "period": OPEN_INTEREST_PERIOD, "startTime": 0, "endTime": before_ms - 1,
              "limit": 1}  # fmt: skip
    page = client.get(params, protocol.OPEN_INTEREST_HISTORY_PATH, protocol.OPEN_INTEREST_HISTORY_WEIGHT)
    return parse_open_interest_row(page[0]).time_ms if isinstance(page, list) and page else None
