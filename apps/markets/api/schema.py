"""The series path parameters of /api/schema/ (exchange, coin, quote, market_type, interval), described as
the views validate them: one of the names in the reference data (intervals: those with a starlisting).

A drf-spectacular postprocessing hook, so the enums are read when the schema is generated and follow
the markets configured (sync_starlistings).
"""

from django.db import DatabaseError

from apps.markets.models import Coin, Exchange, MarketType, QuoteCurrency, Starlisting

_NAMES = {
    "exchange": (Exchange, "name"),
    "coin": (Coin, "symbol"),
    "quote": (QuoteCurrency, "symbol"),
    "market_type": (MarketType, "name"),
    "interval": (Starlisting, "interval__name"),
}


def describe_series_paths(result, generator, request, public):
    try:
        return _described(result)
    except DatabaseError:  # `manage.py spectacular` without a database: the free-form description stands
        return result


def _described(result):
    names = {}
    for operation in (op for path in result.get("paths", {}).values() for op in path.values()):
        for parameter in operation.get("parameters", []) if isinstance(operation, dict) else []:
            if parameter.get("in") != "path" or parameter.get("name") not in _NAMES:
                continue
            if parameter["name"] not in names:
                model, field = _NAMES[parameter["name"]]
                names[parameter["name"]] = sorted(set(model.objects.values_list(field, flat=True)))
            if names[parameter["name"]]:  # an empty install keeps the free-form description
                parameter["schema"] = {**parameter["schema"], "enum": names[parameter["name"]]}
                parameter["schema"].pop("pattern", None)
    return result
