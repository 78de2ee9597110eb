"""Rows of an export straight from PostgreSQL: ``COPY (SELECT ...) TO STDOUT WITH (FORMAT csv)``.

COPY hands over one CSV row at a time as the server produces it, with no
per-value Python objects, so memory stays flat and the cost stays close to
PostgreSQL's own. ``Tracker`` counts the rows and keeps the first and last
row time for the sidecar.
"""

from dataclasses import dataclass

from django.db import connections

from apps.marketdata.export.formats import ExportFailed

PROGRESS_EVERY = 100_000


def copy_rows(query, using):
    """Yield the header line, then every row, of ``query`` as bytes-like CSV lines (each ends with a newline)."""
    connection = connections[using]
    with connection.cursor() as wrapper:
        statement = f"COPY ({query.sql}) TO STDOUT WITH (FORMAT csv, HEADER true)"
        with wrapper.cursor.copy(statement, query.params) as copy:
            yield from copy


@dataclass
class Tracker:
    """Counts rows going past and remembers the first and last row's leading field (the time)."""

    rows: int = 0
    first_time: str | None = None
    last_time: str | None = None
    progress: object = None  # called with the row count every PROGRESS_EVERY rows

    def track(self, lines):
        lines = iter(lines)
        header = next(lines, None)
        if header is None:
            return
        yield header
        count, last, every, progress = 0, None, PROGRESS_EVERY, self.progress
        for last in lines:
            count += 1
            if count == 1:
                self.first_time = _leading_field(last)
            elif progress is not None and count % every == 0:
                progress(count)
            yield last
        self.rows = count
        if last is not None:
            self.last_time = _leading_field(last)
        if progress is not None:
            progress(count)


def _leading_field(line):
    return bytes(line).split(b",", 1)[0].strip().decode()


@dataclass
class Budget:
    """Rows and bytes of CSV text an export may read over all its files; past either, it fails saying which."""

    max_rows: int
    max_bytes: int
    rows: int = 0
    bytes: int = 0

    def meter(self, lines):
        lines = iter(lines)
        header = next(lines, None)
        if header is None:
            return
        yield header
        rows, size, max_rows, max_bytes = self.rows, self.bytes, self.max_rows, self.max_bytes
        try:
            for line in lines:
                rows += 1
                size += len(line)
                if rows > max_rows:
                    raise ExportFailed(
                        f"the export has more than {max_rows} rows (KIRBY_EXPORT_JOB_MAX_ROWS):"
                        " ask for a shorter window"
                    )
                if size > max_bytes:
                    raise ExportFailed(
                        f"the export is larger than {max_bytes} bytes (KIRBY_EXPORT_JOB_MAX_BYTES):"
                        " ask for a shorter window"
                    )
                yield line
        except ExportFailed:
            # Ends the COPY (its generator), which otherwise keeps the connection the job must write to.
            getattr(lines, "close", lambda: None)()
            raise
        finally:
            self.rows, self.bytes = rows, size
