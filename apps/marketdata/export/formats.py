"""CSV and Parquet writers fed by the COPY rows of an export.

CSV is the COPY text itself: exact ``numeric`` digits, empty for NULL.
Parquet is parsed from the same text by pyarrow (in C++, block by block) and
written in row groups of ``KIRBY_EXPORT_ROW_GROUP_ROWS`` rows with zstd:
timestamps as ``timestamp[us, tz=UTC]``, numbers either as exact
``decimal128(38, 18)`` (the default; a value that does not fit fails the
export rather than being rounded) or as ``float64``, as the sidecar records.
"""

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from django.conf import settings

from apps.marketdata.tables import BOOLEAN, DECIMAL, INTEGER, LEVELS, TEXT, TIME

CSV, PARQUET = "csv", "parquet"
FORMATS = (CSV, PARQUET)
NUMBERS = ("decimal", "float64")
CONTENT_TYPES = {CSV: "text/csv; charset=utf-8", PARQUET: "application/vnd.apache.parquet"}
COMPRESSION = "zstd"
BLOCK_BYTES = 8 << 20  # COPY text parsed per block; about 80,000 candle rows
WRITE_BYTES = 1 << 20


class ExportFailed(Exception):
    """The data cannot be written as asked (e.g. a number beyond decimal128(38, 18))."""


def arrow_type(kind, numbers):
    if kind == TIME:
        return pa.timestamp("us", tz="UTC")
    if kind == DECIMAL:
        return pa.decimal128(38, 18) if numbers == "decimal" else pa.float64()
    if kind == INTEGER:
        return pa.int64()
    if kind == BOOLEAN:
        return pa.bool_()
    if kind in (TEXT, LEVELS):
        return pa.string()  # book levels as their JSON text: exact digits, whatever the depth
    raise ValueError(kind)


def csv_type(kind):
    return {
        TIME: "timestamp (ISO-8601, UTC)",
        DECIMAL: "decimal (exact text)",
        INTEGER: "integer",
        BOOLEAN: "boolean (true/false)",
        TEXT: "text",
        LEVELS: "levels (JSON [[price, size], ...] of exact decimal strings, best first)",
    }[kind]


def arrow_schema(columns, numbers):
    return pa.schema([(name, arrow_type(kind, numbers)) for name, kind in columns])


def write_csv(lines, handle):
    """Write the COPY lines (header first) to a binary file handle."""
    write = handle.write
    for line in lines:
        write(line)


def csv_chunks(lines, size=WRITE_BYTES):
    """The COPY lines regrouped into chunks of about ``size`` bytes, for HTTP streaming."""
    parts, total = [], 0
    for line in lines:
        parts.append(line)
        total += len(line)
        if total >= size:
            yield b"".join(parts)
            parts, total = [], 0
    if parts:
        yield b"".join(parts)


_READ = pa_csv.ReadOptions(use_threads=False, block_size=BLOCK_BYTES * 2)


def _parse(header, block, schema, options):
    try:
        data = pa.BufferReader(b"".join([header, *block]))
        return pa_csv.read_csv(data, read_options=_READ, convert_options=options).to_batches()
    except pa.ArrowInvalid as error:
        raise ExportFailed(f"a value does not fit the Parquet column type: {error}") from None


def _batches(lines, schema):
    """Record batches parsed from the COPY lines block by block (in this thread: the database stays here)."""
    options = pa_csv.ConvertOptions(column_types=schema, true_values=["true"], false_values=["false"], null_values=[""])
    lines = iter(lines)
    header = bytes(next(lines, b""))
    block, size = [], 0
    for line in lines:
        block.append(line)
        size += len(line)
        if size >= BLOCK_BYTES:
            yield from _parse(header, block, schema, options)
            block, size = [], 0
    if block:
        yield from _parse(header, block, schema, options)


def row_groups(lines, schema, rows_per_group=None):
    """pyarrow Tables of about ``rows_per_group`` rows each, parsed from the COPY lines."""
    rows_per_group = rows_per_group or settings.KIRBY_EXPORT_ROW_GROUP_ROWS
    pending, count = [], 0
    for batch in _batches(lines, schema):
        pending.append(batch)
        count += batch.num_rows
        if count >= rows_per_group:
            yield pa.Table.from_batches(pending, schema)
            pending, count = [], 0
    if pending or count == 0:
        yield pa.Table.from_batches(pending, schema)


def write_parquet(lines, sink, schema, metadata=None, after_group=None):
    """Write the COPY lines to ``sink`` (a path or binary file) as Parquet; ``after_group()`` after each group."""
    with pq.ParquetWriter(sink, schema.with_metadata(metadata or {}), compression=COMPRESSION) as writer:
        for table in row_groups(lines, schema):
            if table.num_rows:
                writer.write_table(table, row_group_size=table.num_rows)
            if after_group is not None:
                after_group()
