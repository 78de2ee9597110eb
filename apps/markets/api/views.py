"""Starlisting catalogue over REST (API.md)."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema

from apps.markets.api.serializers import StarlistingListSerializer, StarlistingSerializer, starlisting_body
from apps.markets.cache import MARKETS_TAG
from apps.markets.models import Starlisting
from lib import cache
from lib.http.caching import IF_NONE_MATCH, NOT_MODIFIED, cached_response
from lib.http.errors import NotFound
from lib.http.params import QueryParams, path_id
from lib.http.render import JsonView, json_bytes
from lib.http.schema import ErrorSerializer, id_parameter

_KEY = "v1:starlistings:"  # + what the answer depends on; the markets tag drops them all on any change


def starlistings():
    return Starlisting.objects.select_related(
        "trading_pair__exchange",
        "trading_pair__coin",
        "trading_pair__quote",
        "trading_pair__market_type",
        "interval",
    ).order_by("id")


class StarlistingListView(JsonView):
    @extend_schema(
        operation_id="starlistings",
        summary="All starlistings, ordered by id",
        parameters=[
            OpenApiParameter("active_only", OpenApiTypes.BOOL, description="Only active starlistings (default true)"),
            IF_NONE_MATCH,
        ],
        responses={200: StarlistingListSerializer, 304: NOT_MODIFIED, 400: ErrorSerializer},
    )
    def get(self, request):
        params = QueryParams(request)
        active_only = params.boolean("active_only", True)
        params.raise_if_invalid()

        def render():
            queryset = starlistings()
            if active_only:
                queryset = queryset.filter(active=True)
            items = [starlisting_body(starlisting) for starlisting in queryset]
            return json_bytes({"starlistings": items, "total_count": len(items)}), False

        answer = cache.answer(f"{_KEY}list:{int(active_only)}", lambda fresh: ([], render), [MARKETS_TAG])
        return cached_response(request, answer)


class StarlistingDetailView(JsonView):
    @extend_schema(
        operation_id="starlisting",
        summary="One starlisting, active or not",
        parameters=[id_parameter("starlisting_id"), IF_NONE_MATCH],
        responses={200: StarlistingSerializer, 304: NOT_MODIFIED, 400: ErrorSerializer, 404: ErrorSerializer},
    )
    def get(self, request, starlisting_id):
        starlisting_id = path_id(starlisting_id, "starlisting_id")

        def render():
            starlisting = starlistings().filter(id=starlisting_id).first()
            if starlisting is None:
                raise NotFound(f"Starlisting with ID {starlisting_id} not found")
            return json_bytes(starlisting_body(starlisting)), False

        answer = cache.answer(f"{_KEY}{starlisting_id}", lambda fresh: ([], render), [MARKETS_TAG])
        return cached_response(request, answer)
