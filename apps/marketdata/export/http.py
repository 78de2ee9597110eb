"""Export bodies for HTTP: CSV and Parquet produced chunk by chunk while the client downloads.

Parquet is written into a sink that hands each finished row group to the
response, so the server holds one row group at most. Under ASGI the chunks
are pulled through ``sync_to_async`` one at a time (Django would otherwise
read a synchronous iterator to the end before sending anything); the database
work stays on Django's one sync thread.
"""

import io

import pyarrow.parquet as pq
from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest

from apps.marketdata.export.formats import COMPRESSION, csv_chunks, row_groups


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
    if not isinstance(request, ASGIRequest):
        return chunks
    return _pull(iter(chunks))


async def _pull(chunks):
    step = sync_to_async(next, thread_sensitive=True)
    while True:
        chunk = await step(chunks, None)
        if chunk is None:
            return
        yield chunk
