"""Hyperliquid REST history (``POST /info``) for backfills.

Candles: ``candleSnapshot`` serves only about the most recent 5,000 candles
per coin and interval, and truncates long ranges, so pages are requested
from the last open time + 1 until the range is covered or the exchange has
nothing more. Funding: ``fundingHistory`` (hourly since mid-2023, 8-hourly
before), paged the same way; its times carry millisecond jitter and are
floored to the hour. Both yield the same events as the live parser.

Every request is paid for from ``budget`` (``lib.budget.Budget``)
when one is given: 20 weight a request, plus 1 per 60 candles or 20
funding rows answered; a 429 is reported to it before RateLimited is raised.
"""

import urllib.error
import urllib.request
from decimal import Decimal
from typing import NamedTuple

import orjson

from apps.collectors.exchanges.events import HistoryError, MalformedFrame, RateLimited, decimal, integer, text
from apps.collectors.exchanges.hyperliquid import protocol
from apps.collectors.exchanges.hyperliquid.parser import parse_candle

HOUR_MS = 3_600_000
REQUEST_WEIGHT = 20
CANDLES_PER_EXTRA_WEIGHT = 60
FUNDING_ROWS_PER_EXTRA_WEIGHT = 20


def post_info(body, *, url=None, timeout=30):
    request = urllib.request.Request(
        url or protocol.rest_url(),
        data=orjson.dumps(body),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return orjson.loads(response.read())
    except urllib.error.HTTPError as error:
        if error.code == 429:
            retry_after = error.headers.get("Retry-After")
            raise RateLimited(float(retry_after) if retry_after else None) from None
        raise HistoryError(f"{body.get('type')}: HTTP {error.code}: {error.read()[:200]!r}") from None
    except orjson.JSONDecodeError:
        raise HistoryError(f"{body.get('type')}: the response is not JSON") from None


def _paid(body, url, budget, items_per_weight):
    if budget is not None:
        budget.take(REQUEST_WEIGHT)
    try:
        page = post_info(body, url=url)
    except RateLimited as error:
        if budget is not None:
            budget.rate_limited(error.retry_after)
        raise
    if budget is not None and isinstance(page, list):
        budget.spend(len(page) // items_per_weight)
    return page


def candle_pages(coin, interval, start_ms, end_ms, *, url=None, budget=None):
    """Yield lists of CandleUpdate (ascending, open time in [start, end)), one list per page.

    A page starts with the candle containing ``startTime``, so the next page
    (from the last open time + 1) repeats the last candle: it is dropped.
    """
    cursor, last_seen = start_ms, -1
    while cursor < end_ms:
        body = {
            "type": "candleSnapshot",
            "req": {"coin": coin, "interval": interval, "startTime": cursor, "endTime": end_ms - 1},
        }  # noqa: E501
        page = _paid(body, url, budget, CANDLES_PER_EXTRA_WEIGHT)
        if not isinstance(page, list):
            raise HistoryError(f"candleSnapshot: expected a list, got {type(page).__name__}")
        candles = [c for c in map(parse_candle, page) if start_ms <= c.open_ms < end_ms and c.open_ms > last_seen]
        if not candles:
            return
        yield candles
        last_seen = max(c.open_ms for c in candles)
        cursor = last_seen + 1


def earliest_candle_ms(coin, interval, before_ms, *, url=None, budget=None):
    """Open time of the oldest candle the exchange still serves (before ``before_ms``), or None.

    Only the most recent 5,000 candles exist, so a request from time 0
    starts at the history's horizon: a backfill asks this to tell "the
    history ends here" from "no trades here".
    """
    body = {"type": "candleSnapshot", "req": {"coin": coin, "interval": interval, "startTime": 0, "endTime": before_ms}}
    page = _paid(body, url, budget, CANDLES_PER_EXTRA_WEIGHT)
    return min((parse_candle(item).open_ms for item in page), default=None) if isinstance(page, list) else None


def earliest_funding_ms(coin, before_ms, *, url=None, budget=None):
    """Time (floored to the hour) of the oldest funding record before ``before_ms``, or None."""
    body = {"type": "fundingHistory", "coin": coin, "startTime": 0, "endTime": before_ms}
    page = _paid(body, url, budget, FUNDING_ROWS_PER_EXTRA_WEIGHT)
    return min((parse_funding(item).time_ms for item in page), default=None) if isinstance(page, list) else None


class FundingPoint(NamedTuple):
    coin: str
    time_ms: int  # floored to the hour
    funding_rate: Decimal
    premium: Decimal | None


def parse_funding(item):
    if not isinstance(item, dict):
        raise MalformedFrame("funding history item is not an object")
    raw_time = integer(item.get("time"), "time")
    return FundingPoint(
        coin=text(item.get("coin"), "coin"),
        time_ms=raw_time - raw_time % HOUR_MS,  # the exchange stamps funding a few ms after the hour
        funding_rate=decimal(item.get("fundingRate"), "fundingRate"),
        premium=decimal(item.get("premium"), "premium", nullable=True),
    )


def funding_pages(coin, start_ms, end_ms, *, url=None, budget=None):
    """Yield lists of FundingPoint (ascending, floored time in [start, end)), one list per page."""
    cursor = start_ms
    while cursor < end_ms:
        body = {"type": "fundingHistory", "coin": coin, "startTime": cursor, "endTime": end_ms - 1}
        page = _paid(body, url, budget, FUNDING_ROWS_PER_EXTRA_WEIGHT)
        if not isinstance(page, list):
            raise HistoryError(f"fundingHistory: expected a list, got {type(page).__name__}")
        raw_last = max((item.get("time", 0) for item in page if isinstance(item, dict)), default=None)
        points = [p for p in (parse_funding(item) for item in page) if start_ms <= p.time_ms < end_ms]
        if raw_last is None:
            return
        if points:
            yield points
        if raw_last + 1 <= cursor:
            return
        cursor = raw_last + 1
