"""Records as JSON text and back, exactly: times as ISO-8601 UTC, decimals as strings.

Used where a record leaves Python for a while: the dead-letter table and
the collectors' outage spool. Decoding restores each field's type from its
column kind, so a decoded record stores exactly as the original would have.
"""

import json
from datetime import datetime
from decimal import Decimal, InvalidOperation

from apps.marketdata.tables import DECIMAL, TIME


def _plain(value):
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f") if value.is_finite() else str(value)
    return repr(value)  # whatever else an adapter produced: kept readable for the operator


def dumps(record):
    """One record as a JSON list in column order."""
    return json.dumps(list(record), default=_plain, separators=(",", ":"))


def dumps_many(records):
    return json.dumps([list(r) for r in records], default=_plain, separators=(",", ":"))


def _decoder(spec):
    kinds = [c.kind for c in spec.table_columns]

    def decode(values):
        fields = []
        for kind, value in zip(kinds, values, strict=False):
            try:
                if isinstance(value, str) and kind == TIME:
                    value = datetime.fromisoformat(value)
                elif isinstance(value, str) and kind == DECIMAL:
                    value = Decimal(value)
            except (ValueError, InvalidOperation):
                pass  # kept as it came: the write path sets the record aside with its reason
            fields.append(value)
        return spec.record(*fields)

    return decode


def loads_many(spec, text):
    decode = _decoder(spec)
    return [decode(values) for values in json.loads(text)]
