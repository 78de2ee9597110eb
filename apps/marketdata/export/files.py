"""File names and JSON sidecars of exports, as Kirby 1.x named them.

``{type}_{exchange}_{coin}_{quote}_{market_type}[_{interval}]_{YYYYmmdd_HHMMSS}.{csv|parquet}``
(the stamp is the export's start, UTC). Each data file gets its own sidecar,
``<file name>.json``, so a CSV and a Parquet file of one export never
overwrite each other's (1.x's did).
"""

import json
from datetime import UTC, datetime
from pathlib import Path

from apps.marketdata.export.formats import COMPRESSION, CSV, csv_type
from apps.marketdata.export.spec import COLUMNS


def stamp(moment=None):
    return (moment or datetime.now(UTC)).astimezone(UTC).strftime("%Y%m%d_%H%M%S")


def file_name(export_type, pair, interval, moment_stamp, fmt):
    parts = [export_type, pair.exchange, pair.coin, pair.quote, pair.market_type]
    if interval:
        parts.append(interval)
    return "_".join([*parts, moment_stamp]) + f".{fmt}"


def iso(moment):
    return None if moment is None else moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _v1_keys(query, size, now):
    """The keys of Kirby 1.x's sidecar that Kirby's lack, so scripts written for 1.x keep reading them."""
    keys = {
        "export_timestamp": now,
        "data_type": query["type"],
        "exchange": query["exchange"],
        "coin": query["coin"],
        "quote": query["quote"],
        "trading_pair": f"{query['coin']}/{query['quote']}",
        "market_type": query["market_type"],
        "file_size_bytes": size,
        "null_strategy": "preserve",
    }
    if query.get("interval"):
        keys["interval"] = query["interval"]
    return keys


def sidecar(path, *, fmt, query, tracker, schema=None, numbers=None):
    """Write ``<path>.json`` describing the export file at ``path``; return the sidecar's path."""
    path = Path(path)
    if fmt == CSV:
        columns = [{"name": name, "type": csv_type(kind)} for name, kind in COLUMNS[query["type"]]]
        representation = {"numbers": "exact decimal text", "nulls": "empty field", "compression": None}
    else:
        columns = [{"name": field.name, "type": str(field.type)} for field in schema]
        representation = {"numbers": numbers, "nulls": "null", "compression": COMPRESSION}
    size, now = path.stat().st_size, iso(datetime.now(UTC))
    document = {
        "file": path.name,
        "format": fmt,
        "query": query,
        "row_count": tracker.rows,
        # first/last: Kirby's names; start/end: 1.x's (the exported rows' min and max time either way)
        "time_range": {
            "first": tracker.first_time,
            "last": tracker.last_time,
            "start": tracker.first_time,
            "end": tracker.last_time,
        },
        "file_size": size,
        "columns": columns,
        **representation,
        "created_at": now,
        **_v1_keys(query, size, now),
    }
    target = path.with_name(path.name + ".json")
    target.write_text(json.dumps(document, indent=2) + "\n")
    return target
