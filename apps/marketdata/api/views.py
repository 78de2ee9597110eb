"""Candles, funding and open interest over REST (API.md)."""

from drf_spectacular.utils import extend_schema, extend_schema_view

from apps.marketdata import queries
from apps.marketdata.api import serializers
from lib.http.errors import BadRequest, NotFound
from lib.http.params import QueryParams
from lib.http.render import JsonView, iso, json_response
from lib.http.schema import PAIR_PATH, WINDOW_PARAMETERS, ErrorSerializer, path_parameters

_ERRORS = {400: ErrorSerializer, 404: ErrorSerializer}


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
        parameters=[*path_parameters(*PAIR_PATH, "interval"), *WINDOW_PARAMETERS],
        responses={200: serializers.CandlesResponseSerializer, **_ERRORS},
    )
    def get(self, request, exchange, coin, quote, market_type, interval):
        window = _window(request)
        found = queries.find_starlisting(exchange, coin, quote, market_type, interval)
        path = f"{exchange}/{coin}/{quote}/{market_type}/{interval}"
        if found is None:
            raise NotFound(f"Starlisting not found: {path}")
        starlisting_id, active, names = found
        if not active:
            raise BadRequest(f"Starlisting is not active: {path}")
        data = queries.candle_rows(starlisting_id, window, interval=interval)
        metadata = {**names, "count": len(data), "start_time": iso(window.start), "end_time": iso(window.end)}
        return json_response({"data": data, "metadata": metadata})


class _PairSeriesView(JsonView):
    rows = None  # query function

    def get(self, request, exchange, coin, quote, market_type):
        window = _window(request)
        found = queries.find_trading_pair(exchange, coin, quote, market_type)
        path = f"{exchange}/{coin}/{quote}/{market_type}"
        if found is None:
            raise NotFound(f"Trading pair not found: {path}")
        trading_pair_id, active, names = found
        if not active:
            raise BadRequest(f"Trading pair is not active: {path}")
        data = type(self).rows(trading_pair_id, window)
        metadata = {**names, "count": len(data), "start_time": iso(window.start), "end_time": iso(window.end)}
        return json_response({"data": data, "metadata": metadata})


_PAIR_PARAMETERS = [*path_parameters(*PAIR_PATH), *WINDOW_PARAMETERS]


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
