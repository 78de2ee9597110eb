"""Export bodies for HTTP: CSV and Parquet produced chunk by chunk while the client downloads.

Parquet is written into a sink that hands each finished row group to the
response, so the server holds one row group at most. Under ASGI the chunks
are pulled through ``sync_to_async`` one at a time (Django would otherwise
read a synchronous iterator to the end before sending anything); the database
work stays on Django's one sync thread.
"""

import io
import logging
import time

import pyarrow.parquet as pq
from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest

from apps.marketdata.export.formats import COMPRESSION, csv_chunks, row_groups

log = logging.getLogger(__name__)


class _Sink(io.RawIOBase):
    """A write-only file that keeps what was written until ``take()``."""

    def __init__(self):
        super().__init__()
        self._parts, self._position = [], 0

    def writable(self):
        return True

    def write(self, data):
        self._parts.append(bytes(data))
        self._position += len(data)
        return len(data)

    def tell(self):
        return self._position

    def take(self):
        data, self._parts = b"".join(self._parts), []
        return data


def csv_body(lines):
    return csv_chunks(lines)


def parquet_body(lines, schema, metadata=None):
    sink = _Sink()
    writer = pq.ParquetWriter(sink, schema.with_metadata(metadata or {}), compression=COMPRESSION)
    for table in row_groups(lines, schema):
        if table.num_rows:
            writer.write_table(table, row_group_size=table.num_rows)
        chunk = sink.take()
        if chunk:
            yield chunk
    writer.close()
    yield sink.take()


def for_request(request, chunks):
    """``chunks`` as the request's server wants them: as they are under WSGI, async under ASGI."""
    # A DRF view gets a Request wrapping Django's: without unwrapping, Daphne would read every row into
    # memory before sending the first byte.
    if not isinstance(getattr(request, "_request", request), ASGIRequest):
        return chunks
    return _pull(iter(chunks))


async def _pull(chunks):
    step = sync_to_async(next, thread_sensitive=True)
    while True:
        try:
            chunk = await step(chunks, None)
        except TransferCut as cut:
            # Daphne cannot abort a started response (an application error then leaves the connection
            # hanging): the body ends here, shorter than its X-Kirby-Rows says.
            log.warning("%s", cut)
            return
        if chunk is None:
            return
        yield chunk


class TransferCut(Exception):
    """Raised mid-body: a WSGI server (gunicorn) then drops the connection without the final chunk."""


def within(chunks, seconds):
    """``chunks`` until ``seconds`` have passed, then TransferCut (never a short body that looks complete)."""
    deadline = time.monotonic() + seconds
    for chunk in chunks:
        yield chunk
        if time.monotonic() > deadline:
            raise TransferCut(f"the export took longer than {seconds} s (KIRBY_EXPORT_SYNC_MAX_SECONDS); cut")
