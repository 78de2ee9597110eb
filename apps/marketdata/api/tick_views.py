"""Trades and order books over REST.

The current book comes from Redis (apps.marketdata.live_books), never from
PostgreSQL; a book that is not in sync with the venue is a 503 with the
reason, never served as current. Stored snapshots (``?time=``, /history) and
trades are read from PostgreSQL.
"""

import time
from datetime import UTC, datetime

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions

from apps.marketdata import live_books, queries, tick_queries
from apps.marketdata.api import serializers as documented
from apps.markets.models import TradingPair
from lib.http.errors import BadRequest, NotFound
from lib.http.params import QueryParams as _QueryParams
from lib.http.params import Window, parse_time
from lib.http.render import JsonView, iso, json_response
from lib.http.schema import PAIR_PATH, ErrorSerializer, limit_parameter, path_parameters, time_parameter

MAX_TRADES, DEFAULT_TRADES = 10_000, 1000
MAX_SNAPSHOTS, DEFAULT_SNAPSHOTS = 1000, 100
MAX_DEPTH, DEFAULT_DEPTH = live_books.LIVE_DEPTH, 20
_ERRORS = {400: ErrorSerializer, 404: ErrorSerializer}


class Unavailable(exceptions.APIException):
    status_code = 503


class QueryParams(_QueryParams):
    def window(self, maximum, default):
        start, end = self.time("start_time"), self.time("end_time")
        limit = self.integer("limit", default, 1, maximum)
        if start is not None and end is not None and start >= end:
            self.errors.append(("query", "end_time", "must be after start_time (the window is [start_time, end_time))"))
        return Window(start, end, limit)

    def depth(self):
        return self.integer("depth", DEFAULT_DEPTH, 1, MAX_DEPTH)


def _pair(exchange, coin, quote, market_type):
    found = queries.find_trading_pair(exchange, coin, quote, market_type)
    path = f"{exchange}/{coin}/{quote}/{market_type}"
    if found is None:
        raise NotFound(f"Trading pair not found: {path}")
    trading_pair_id, active, names = found
    if not active:
        raise BadRequest(f"Trading pair is not active: {path}")
    return trading_pair_id, names


def _window_metadata(names, window, count):
    return {**names, "count": count, "start_time": iso(window.start), "end_time": iso(window.end)}


_DEPTH = OpenApiParameter(
    "depth",
    {"type": "integer", "minimum": 1, "maximum": MAX_DEPTH, "default": DEFAULT_DEPTH},
    description=f"Levels per side, 1..{MAX_DEPTH} (default {DEFAULT_DEPTH})",
)
_CURSOR = OpenApiParameter(
    "cursor",
    {"type": "string", "pattern": "^[A-Za-z0-9_-]+$"},
    description="metadata.next of the previous page: the trades that follow it in the same window",
)
_WINDOW = [
    time_parameter("start_time", "Inclusive start.", "2026-11-20T00:00:00Z"),
    time_parameter("end_time", "Exclusive end.", "2026-11-21"),
]


class TradesView(JsonView):
    @extend_schema(
        operation_id="trades",
        summary="Trades of one trading pair, ascending by time then trade id",
        description=(
            "From start_time the first `limit` trades, and `metadata.next` when more of the window follow"
            " (many trades share a millisecond: page with `cursor`, not with times). Without start_time the"
            " newest `limit` trades. Side is the taker's."
        ),
        parameters=[
            *path_parameters(*PAIR_PATH),
            *_WINDOW,
            limit_parameter(MAX_TRADES, DEFAULT_TRADES, "Trades"),
            _CURSOR,
        ],
        responses={200: documented.TradesResponseSerializer, **_ERRORS},
    )
    def get(self, request, exchange, coin, quote, market_type):
        params = QueryParams(request)
        window = params.window(MAX_TRADES, DEFAULT_TRADES)
        after = params._get("cursor", tick_queries.decode_cursor)
        params.raise_if_invalid()
        trading_pair_id, names = _pair(exchange, coin, quote, market_type)
        data, following = tick_queries.trade_rows(trading_pair_id, window, after=after)
        return json_response(
            {"data": data, "metadata": {**_window_metadata(names, window, len(data)), "next": following}}
        )


class OrderBookView(JsonView):
    @extend_schema(
        operation_id="orderbook",
        summary="The current order book of one trading pair, or the stored snapshot at a time",
        description=(
            "Without `time`: the collector's current book, answered from Redis; 503 with the reason while the"
            " book is not in sync with the venue: being rebuilt after a break, its connection lost (until the"
            " new connection has rebuilt it), or not published for KIRBY_BOOK_STALE_SECONDS (its collector is"
            " away: `no update for N s`);"
            " 404 when the pair's book is not collected."
            " With `time`: the stored snapshot at or before it."
        ),
        parameters=[
            *path_parameters(*PAIR_PATH),
            _DEPTH,
            time_parameter("time", "The stored snapshot at or before this time."),
        ],
        responses={200: documented.BookResponseSerializer, 503: documented.UnavailableSerializer, **_ERRORS},
    )
    def get(self, request, exchange, coin, quote, market_type):
        params = QueryParams(request)
        depth = params.depth()
        moment = params._get("time", parse_time)
        params.raise_if_invalid()
        if "time" in request.GET:
            return self._stored(exchange, coin, quote, market_type, moment, depth)
        book = live_books.get_book(exchange, coin, quote, market_type)
        path = f"{exchange}/{coin}/{quote}/{market_type}"
        if book is None:
            trading_pair_id, _ = _pair(exchange, coin, quote, market_type)
            if not TradingPair.objects.filter(id=trading_pair_id, collect_orderbook=True).exists():
                raise NotFound(
                    f"No current order book of {path}: its collection is off (orderbook: true switches it on)"
                )
            raise Unavailable(f"No current order book of {path}: its collector is not running or has not synced yet")
        now = time.time()
        book = live_books.served(book, now)
        if not book["in_sync"]:
            raise Unavailable(f"The order book of {path} is not in sync with the venue: {book['reason']}")
        age = max(0.0, now - book["published_at"])
        names = {k: book[k] for k in ("exchange", "coin", "quote", "market_type")}
        data = {
            "time": book["time"],
            "sequence": book["sequence"],
            "bids": book["bids"][:depth],
            "asks": book["asks"][:depth],
        }
        metadata = {
            **names,
            "trading_pair": f"{names['coin']}/{names['quote']}",
            "source": "live",
            "in_sync": True,
            "time": book["time"],
            "sequence": book["sequence"],
            "age_seconds": round(age, 3),
            "depth": depth,
        }
        return json_response({"data": data, "metadata": metadata})

    def _stored(self, exchange, coin, quote, market_type, moment, depth):
        trading_pair_id, names = _pair(exchange, coin, quote, market_type)
        book = tick_queries.book_at(trading_pair_id, moment, depth)
        if book is None:
            raise NotFound(f"No stored order book of {queries.pair_path(names)} at or before {iso(moment)}")
        metadata = {
            **names,
            "source": "stored",
            "in_sync": True,  # only books in sync are stored
            "time": book["time"],
            "sequence": book["sequence"],
            "age_seconds": round((datetime.now(UTC) - book["time"]).total_seconds(), 3),
            "depth": depth,
        }
        return json_response({"data": book, "metadata": metadata})


class OrderBookHistoryView(JsonView):
    @extend_schema(
        operation_id="orderbook_history",
        summary="Stored order-book snapshots of one trading pair, ascending by time",
        description="From start_time the first `limit` snapshots; without it the newest `limit`.",
        parameters=[
            *path_parameters(*PAIR_PATH),
            *_WINDOW,
            limit_parameter(MAX_SNAPSHOTS, DEFAULT_SNAPSHOTS, "Snapshots"),
            _DEPTH,
        ],
        responses={200: documented.BookHistoryResponseSerializer, **_ERRORS},
    )
    def get(self, request, exchange, coin, quote, market_type):
        params = QueryParams(request)
        window = params.window(MAX_SNAPSHOTS, DEFAULT_SNAPSHOTS)
        depth = params.depth()
        params.raise_if_invalid()
        trading_pair_id, names = _pair(exchange, coin, quote, market_type)
        data = tick_queries.book_rows(trading_pair_id, window, depth)
        return json_response({"data": data, "metadata": {**_window_metadata(names, window, len(data)), "depth": depth}})
