"""Candles, funding and open interest over REST (API.md).

The newest rows of a series (no ``start_time``/``end_time``) and candle windows that can no
longer change are answered from the response cache (apps.marketdata.cache); every answer
carries an ETag and answers ``If-None-Match`` with a 304 (lib.http.caching).
"""

import time
from datetime import UTC, datetime, timedelta

from django.conf import settings
from drf_spectacular.utils import extend_schema, extend_schema_view

from apps.marketdata import queries
from apps.marketdata.api import serializers
from apps.marketdata.cache import candles_key, pair_series_key, series_tag
from apps.marketdata.tables import CANDLES, FUNDING, OPEN_INTEREST
from apps.markets.cache import MARKETS_TAG
from apps.markets.intervals import STANDARD_INTERVALS
from lib import cache
from lib.http.caching import IF_NONE_MATCH, NOT_MODIFIED, cached_response
from lib.http.errors import BadRequest, NotFound
from lib.http.params import QueryParams
from lib.http.render import JsonView, iso, json_bytes
from lib.http.schema import PAIR_PATH, WINDOW_PARAMETERS, ErrorSerializer, path_parameters

_ERRORS = {304: NOT_MODIFIED, 400: ErrorSerializer, 404: ErrorSerializer}
_LONGEST_INTERVAL = 31 * 86400  # 1M and any interval without a fixed length


def _window(request):
    params = QueryParams(request)
    window = params.window()
    params.raise_if_invalid()
    return window


class CandlesView(JsonView):
    @extend_schema(
        operation_id="candles",
        summary="Candles of one starlisting, ascending by open time",
        description="Without start_time, the most recent `limit` candles are returned.",
        parameters=[*path_parameters(*PAIR_PATH, "interval"), *WINDOW_PARAMETERS, IF_NONE_MATCH],
        responses={200: serializers.CandlesResponseSerializer, **_ERRORS},
    )
    def get(self, request, exchange, coin, quote, market_type, interval):
        window = _window(request)
        past = _closed_window(window, interval)

        def compute(fresh):
            found = queries.find_starlisting(exchange, coin, quote, market_type, interval, fresh=fresh)
            path = f"{exchange}/{coin}/{quote}/{market_type}/{interval}"
            if found is None:
                raise NotFound(f"Starlisting not found: {path}")
            starlisting_id, active, names = found
            if not active:
                raise BadRequest(f"Starlisting is not active: {path}")

            def render():
                data = queries.candle_rows(starlisting_id, window, interval=interval)
                metadata = {**names, "count": len(data), "start_time": iso(window.start), "end_time": iso(window.end)}
                final = past and all(row["closed"] for row in data)
                return json_bytes({"data": data, "metadata": metadata}), final

            return [series_tag(CANDLES.name, starlisting_id)], render

        if window.start is None and window.end is None or past:
            key = candles_key(exchange, coin, quote, market_type, interval, window)
            answer = cache.answer(key, compute, [MARKETS_TAG])
        else:
            answer = cache.computed(compute)
        return cached_response(request, answer, final=answer.final)


def _closed_window(window, interval):
    """Whether every candle the window can hold closed a while ago (then its answer never changes again)."""
    if window.end is None:
        return False
    seconds = STANDARD_INTERVALS.get(interval, _LONGEST_INTERVAL)
    margin = settings.KIRBY_BACKFILL_CLOCK_MARGIN_SECONDS
    return window.end + timedelta(seconds=seconds + margin) <= datetime.fromtimestamp(time.time(), UTC)


class _PairSeriesView(JsonView):
    rows = None  # query function
    table = None

    def get(self, request, exchange, coin, quote, market_type):
        window = _window(request)

        def compute(fresh):
            found = queries.find_trading_pair(exchange, coin, quote, market_type, fresh=fresh)
            path = f"{exchange}/{coin}/{quote}/{market_type}"
            if found is None:
                raise NotFound(f"Trading pair not found: {path}")
            trading_pair_id, active, names = found
            if not active:
                raise BadRequest(f"Trading pair is not active: {path}")

            def render():
                data = type(self).rows(trading_pair_id, window)
                metadata = {**names, "count": len(data), "start_time": iso(window.start), "end_time": iso(window.end)}
                return json_bytes({"data": data, "metadata": metadata}), False

            return [series_tag(self.table, trading_pair_id)], render

        if window.start is None and window.end is None:
            key = pair_series_key(self.table, exchange, coin, quote, market_type, window)
            answer = cache.answer(key, compute, [MARKETS_TAG])
        else:
            answer = cache.computed(compute)
        return cached_response(request, answer)


_PAIR_PARAMETERS = [*path_parameters(*PAIR_PATH), *WINDOW_PARAMETERS, IF_NONE_MATCH]


@extend_schema_view(
    get=extend_schema(
        operation_id="funding",
        summary="Funding rates of one trading pair, newest first",
        parameters=_PAIR_PARAMETERS,
        responses={200: serializers.FundingResponseSerializer, **_ERRORS},
    )
)
class FundingView(_PairSeriesView):
    rows = staticmethod(queries.funding_rows)
    table = FUNDING.name


@extend_schema_view(
    get=extend_schema(
        operation_id="open_interest",
        summary="Open interest of one trading pair, newest first",
        parameters=_PAIR_PARAMETERS,
        responses={200: serializers.OpenInterestResponseSerializer, **_ERRORS},
    )
)
class OpenInterestView(_PairSeriesView):
    rows = staticmethod(queries.open_interest_rows)
    table = OPEN_INTEREST.name
