"""Bodies of the starlisting endpoints (API.md), and the serializers that document them."""

from rest_framework import serializers

from apps.markets.models import Starlisting


class StarlistingSerializer(serializers.ModelSerializer):
    exchange = serializers.CharField(source="trading_pair.exchange.name")
    exchange_display = serializers.CharField(source="trading_pair.exchange.display_name")
    coin = serializers.CharField(source="trading_pair.coin.symbol")
    coin_name = serializers.CharField(source="trading_pair.coin.name")
    quote = serializers.CharField(source="trading_pair.quote.symbol")
    quote_name = serializers.CharField(source="trading_pair.quote.name")
    trading_pair = serializers.CharField(source="trading_pair.symbol")
    trading_pair_id = serializers.IntegerField()
    market_type = serializers.CharField(source="trading_pair.market_type.name")
    market_type_display = serializers.CharField(source="trading_pair.market_type.display_name")
    interval = serializers.CharField(source="interval.name")
    interval_seconds = serializers.IntegerField(source="interval.seconds")

    class Meta:
        model = Starlisting
        fields = [
            "id",
            "exchange",
            "exchange_display",
            "coin",
            "coin_name",
            "quote",
            "quote_name",
            "trading_pair",
            "trading_pair_id",
            "market_type",
            "market_type_display",
            "interval",
            "interval_seconds",
            "active",
        ]
        # Output only; read-only fields are required in the response schema, as every response has them.
        read_only_fields = ["active"]


class StarlistingListSerializer(serializers.Serializer):
    starlistings = StarlistingSerializer(many=True)
    total_count = serializers.IntegerField()


def starlisting_body(starlisting):
    """A starlisting with its pair, exchange and interval spelled out (related rows selected by the caller)."""
    pair = starlisting.trading_pair
    return {
        "id": starlisting.id,
        "exchange": pair.exchange.name,
        "exchange_display": pair.exchange.display_name,
        "coin": pair.coin.symbol,
        "coin_name": pair.coin.name,
        "quote": pair.quote.symbol,
        "quote_name": pair.quote.name,
        "trading_pair": pair.symbol,
        "trading_pair_id": starlisting.trading_pair_id,
        "market_type": pair.market_type.name,
        "market_type_display": pair.market_type.display_name,
        "interval": starlisting.interval.name,
        "interval_seconds": starlisting.interval.seconds,
        "active": starlisting.active,
    }
