"""Run an export into a directory: one file per series and format, each with its sidecar.

Files are written under a ``.part`` name and renamed when complete, so a
reader (or a crash) never sees half a file under the final name.
"""

import json
from dataclasses import dataclass, field
from pathlib import Path

from django.db import connections

from apps.marketdata.export import files, spec
from apps.marketdata.export.formats import CSV, PARQUET, arrow_schema, write_csv, write_parquet
from apps.marketdata.export.stream import Tracker, copy_rows

NUMBERS_TEXT = {"decimal": "decimal128(38, 18), exact", "float64": "float64, nearest double"}


@dataclass
class ExportRequest:
    export_type: str
    using: str  # database alias
    pair: object  # resolve.Pair
    intervals: list = field(default_factory=list)  # [(name, starlisting id)] for candles and merged
    start: object = None  # aware datetime or None: [start, end)
    end: object = None
    formats: tuple = (CSV,)
    numbers: str = "decimal"  # Parquet numbers: decimal or float64
    budget: object = None  # stream.Budget shared by every file, or None: unbounded


@dataclass
class ExportedFile:
    path: Path
    sidecar: Path
    rows: int
    format: str


def series_of(request):
    """[(interval or None, series id for spec.select)] of the request."""
    if request.export_type == spec.CANDLES:
        return list(request.intervals)
    if request.export_type == spec.MERGED:
        return [(name, (sid, request.pair.id)) for name, sid in request.intervals]
    return [(None, request.pair.id)]


def describe(request, interval):
    """The query as the sidecar records it."""
    pair = request.pair
    return {
        "type": request.export_type,
        "exchange": pair.exchange,
        "coin": pair.coin,
        "quote": pair.quote,
        "market_type": pair.market_type,
        "interval": interval,
        "start_time": files.iso(request.start),
        "end_time": files.iso(request.end),
        "window": "[start_time, end_time): start inclusive, end exclusive, on the row time (candle open time), UTC",
        "database": "production" if request.using == "default" else request.using,
    }


def expected_rows(request, series_id):
    query = spec.count(request.export_type, series_id, request.start, request.end)
    with connections[request.using].cursor() as cursor:
        cursor.execute(query.sql, query.params)
        return cursor.fetchone()[0]


def export_series(request, interval, series_id, directory, moment_stamp, fmt, progress=None):
    """Write one file (and its sidecar) of one series; return the ExportedFile."""
    query = spec.select(request.export_type, series_id, request.start, request.end)
    name = files.file_name(request.export_type, request.pair, interval, moment_stamp, fmt)
    final = Path(directory) / name
    partial = final.with_name(name + ".part")
    tracker = Tracker(progress=progress)
    rows = copy_rows(query, request.using)
    lines = tracker.track(rows if request.budget is None else request.budget.meter(rows))
    described = describe(request, interval)
    try:
        if fmt == CSV:
            with open(partial, "wb", buffering=1 << 20) as handle:
                write_csv(lines, handle)
            schema = None
        else:
            schema = arrow_schema(spec.COLUMNS[request.export_type], request.numbers)
            metadata = {"kirby.query": json.dumps(described), "kirby.numbers": NUMBERS_TEXT[request.numbers]}
            write_parquet(lines, str(partial), schema, metadata=metadata)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(final)
    numbers = NUMBERS_TEXT[request.numbers] if fmt == PARQUET else None
    side = files.sidecar(final, fmt=fmt, query=described, tracker=tracker, schema=schema, numbers=numbers)
    return ExportedFile(final, side, tracker.rows, fmt)


def export_files(request, directory, progress_factory=None):
    """Every file of the request into ``directory``; ``progress_factory(label, total)`` gives a progress callback."""
    Path(directory).mkdir(parents=True, exist_ok=True)
    moment_stamp = files.stamp()
    written = []
    for interval, series_id in series_of(request):
        for fmt in request.formats:
            progress = None
            if progress_factory is not None:
                label = f"{request.export_type} {request.pair.path}{'/' + interval if interval else ''} {fmt}"
                progress = progress_factory(label, expected_rows(request, series_id))
            written.append(export_series(request, interval, series_id, directory, moment_stamp, fmt, progress))
    return written
