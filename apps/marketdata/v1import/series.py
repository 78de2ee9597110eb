"""1.x candles, funding and open interest -> Kirby, one source series at a time, then verified.

Each series is streamed out of 1.x through a server-side cursor, in batches,
each row formatted by 1.x's server as one line of COPY text under Kirby's
series id and column order (``COPY ... TO STDOUT`` would send a protocol
message per row, which cost this Python client more than the rows), while the
batches before are stored by the one write path (``writer.write_copy_text``,
no live publish, two connections at once): the lines go in as they are, and
Kirby's rules apply there, so rows it refuses are counted with their reason
and the import goes on. Storing the same rows again changes nothing, which
makes an interrupted import safe to run again.

Verification compares, per series, the rows Kirby accepts on the 1.x side
with Kirby's rows over the same time span: a row count and an
order-independent checksum of each row (the sum of the rows' hashes, in which
1.x's scale-18 numerics and Kirby's equal numbers hash alike). Given a second
1.x connection in the same snapshot, it runs while the next series is copied.
"""

import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import connections
from django.utils import timezone

from apps.marketdata import writer
from apps.marketdata.bounds import time_range
from apps.marketdata.models import DeadLetter
from apps.marketdata.partitions import ensure_partitions
from apps.marketdata.tables import BY_DATA_TYPE, CANDLES, DECIMAL, FUNDING, INTEGER, OPEN_INTEREST, TIME
from apps.markets import intervals

BATCH = 50_000
FIRST_BATCH = 5_000
WRITERS = 2  # connections storing batches at once
IMPORT_EXCHANGE = "kirby-1.x-import"  # the writer's metrics label, and the dead letters' exchange
# What 1.x calls each table, and the Kirby columns it lacks (with the value a source row gets in checks).
SOURCES = {
    CANDLES.name: (CANDLES, {"closed": "true"}),
    FUNDING.name: (FUNDING, {}),
    OPEN_INTEREST.name: (OPEN_INTEREST, {}),
}
TRAINING_TABLES = (CANDLES.name,)  # 1.x's training database holds candles only


@dataclass
class SeriesCheck:
    table: str
    source_id: int
    kirby_id: int
    label: str
    source_rows: int
    kirby_rows: int
    source_sum: int
    kirby_sum: int

    @property
    def ok(self):
        return self.source_rows == self.kirby_rows and self.source_sum == self.kirby_sum


def _source_select(spec, extra):
    """The 1.x rows of one series (``%s``) under Kirby's column names, in Kirby's column order."""
    columns = ", ".join(extra.get(c, c) + (f" AS {c}" if c in extra else "") for c in spec.columns)
    return f"SELECT {columns} FROM {spec.name} WHERE {spec.series_column} = %s"


# hash_record_extended (PostgreSQL 14+) hashes a row a quarter as fast as md5 of its text; a numeric's
# hash ignores its scale (equal numbers hash alike), and bigint hashes equal int hashes, so 1.x's
# numeric(30,18) and int columns hash as Kirby's do. Older servers get the md5 of the row's text.
FAST_HASH_VERSION = 140000


def _row_hash(spec, fast=True):
    columns = [c for c in spec.item_columns if c.name != "closed"]  # 1.x has no closed column
    if fast:
        values = ", ".join(f"{c.name}::bigint" if c.kind == INTEGER else c.name for c in columns)
        return f"hash_record_extended(row({values}), 0)"
    parts = []
    for column in columns:
        if column.kind == TIME:
            value = f"extract(epoch FROM {column.name})::text"
        elif column.kind == DECIMAL:
            value = f"trim_scale({column.name})::text"
        else:
            value = f"{column.name}::text"
        parts.append(f"coalesce({value}, '-')")
    return f"('x' || left(md5(concat_ws('|', {', '.join(parts)})), 15))::bit(60)::bigint"


def _summary_sql(rows_sql, spec, fast):
    return f"SELECT count(*), coalesce(sum({_row_hash(spec, fast)}), 0), min(time), max(time) FROM ({rows_sql}) s"


def _accepted(spec, extra):
    """The source rows of one series Kirby's rules take (the sanity rule and the time bounds)."""
    earliest, latest = time_range()
    return (
        f"SELECT * FROM ({_source_select(spec, extra)}) s WHERE coalesce({spec.valid}, false)"
        f" AND time BETWEEN '{earliest.isoformat()}' AND '{latest.isoformat()}'"
    )


def import_series(source, table, maps, counts, *, using="default", progress=print, checker=None):
    """Stream every series of ``table``; return its SeriesChecks. ``counts[table]`` gets read/written/rejected.

    ``checker``: a second connection to 1.x reading the same snapshot as ``source``; given, each series
    is verified in a thread while the next one is copied (not inside a transaction, whose uncommitted
    rows that thread's connection would not see).
    """
    spec, extra = SOURCES[table]
    count = counts[table]
    id_map = maps.starlistings if spec is CANDLES else maps.trading_pairs
    with source.cursor() as cursor:
        cursor.execute(f"SELECT DISTINCT {spec.series_column} FROM {spec.name}")
        present = sorted(row[0] for row in cursor.fetchall())
    background = checker is not None and not connections[using].in_atomic_block
    verifier = ThreadPoolExecutor(max_workers=1, thread_name_prefix="v1-verify") if background else None
    checks = []
    try:
        for number, source_id in enumerate(present, 1):
            label = f"{table} {number}/{len(present)} (1.x id {source_id})"
            kirby_id = id_map.get(source_id)
            if kirby_id is None:
                with source.cursor() as cursor:
                    cursor.execute(f"SELECT count(*) FROM {spec.name} WHERE {spec.series_column} = %s", [source_id])
                    missing = cursor.fetchone()[0]
                count.read += missing
                count.reject(f"series {source_id} is not in 1.x's {spec.series_table}", missing)
                continue
            span = _accepted_span(source, spec, extra, source_id)
            if span is not None:
                # Its months made before its rows arrive: a batch finding its month missing would take the
                # write path's slower staged way.
                ensure_partitions(spec.name, *span, using=using)
            _copy_series(source, spec, extra, source_id, kirby_id, maps, count, label, using, progress)
            arguments = (spec, extra, table, source_id, kirby_id, label, using, span)
            if verifier is None:
                checks.append(_verify(source, *arguments))
            else:
                checks.append(verifier.submit(_verify, checker, *arguments))
        return [check if isinstance(check, SeriesCheck) else check.result() for check in checks]
    finally:
        if verifier is not None:
            verifier.submit(lambda: connections[using].close()).result()  # the thread's own connection
            verifier.shutdown()


def _copy_series(source, spec, extra, source_id, kirby_id, maps, count, label, using, progress):
    started = timezone.now()
    write = writer.write_copy_text
    columns = [c for c in spec.table_columns if c.name not in extra]
    cutoff = None
    if spec is CANDLES:
        now_ms = int(datetime.now(UTC).timestamp() * 1000)
        cutoff = datetime.fromtimestamp(intervals.floor(maps.intervals[source_id], now_ms) / 1000, UTC)
    read = rejected = written = 0

    # Each row leaves 1.x as one line of COPY text (the server formats it, in Kirby's column order, under
    # Kirby's series id) and enters the write path as it is: no Python object per value, no parsing.
    lines = [f"{kirby_id}::text"]
    for column in columns[1:]:
        lines.append(f"coalesce({column.name}::text, '\\N')")
    if cutoff is not None:
        # A candle is closed once the current candle of its interval has opened after it.
        lines.append(f"(time < '{cutoff.isoformat()}')::text")
    selected = " || E'\\t' || ".join(lines)
    with source.cursor(name=f"v1_{spec.name}_{source_id}") as cursor:
        cursor.execute(f"SELECT {selected} FROM {spec.name} WHERE {spec.series_column} = %s", [source_id])
        # 1.x formats the next batch while Kirby stores the ones before (two servers, or cores of one).
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="v1-read") as reader, _Writers(using) as store:
            for rows in _prefetched(reader, cursor):
                read += len(rows)
                text = "\n".join(row[0] for row in rows)
                for result in store(
                    lambda text=text: write(spec, text, publish=False, using=using, exchange=IMPORT_EXCHANGE)
                ):
                    written += result.written
                    rejected += result.rejected + result.dead_lettered
                    progress(f"{label}: {read} rows read, {written} written, {rejected} rejected")
            for result in store.drain():
                written += result.written
                rejected += result.rejected + result.dead_lettered
                progress(f"{label}: {read} rows read, {written} written, {rejected} rejected")
    count.read += read
    count.written += written
    if rejected:
        _explain(source, spec, extra, source_id, count, rejected, started, using)


def _accepted_span(source, spec, extra, source_id):
    """First and last time of the series' rows Kirby accepts, or None (two index probes on 1.x)."""
    with source.cursor() as cursor:
        cursor.execute(f"SELECT min(time), max(time) FROM ({_accepted(spec, extra)}) s", [source_id])
        first, last = cursor.fetchone()
    return None if first is None else (first, last)


class _Writers:
    """Batches stored by WRITERS connections at once, each batch its own transaction.

    Storing a batch (parsing, the index, the WAL) costs Kirby's server about twice what formatting it
    costs 1.x's, so one writer left 1.x idle half the time. Batches of one series hold distinct keys
    (1.x's primary key), so concurrent writers never wait on each other. Inside a transaction (the
    caller's, e.g. a test's) other connections would not see its uncommitted reference rows: batches
    are then stored one at a time on the caller's connection.
    """

    def __init__(self, using):
        self.using = using
        self.size = 1 if connections[using].in_atomic_block else WRITERS
        self.pool = ThreadPoolExecutor(max_workers=self.size, thread_name_prefix="v1-write") if self.size > 1 else None
        self.pending = deque()

    def __call__(self, work):
        """Start ``work`` (a batch's write); the results of the writes finished meanwhile, in order."""
        if self.pool is None:
            return [work()]
        self.pending.append(self.pool.submit(work))
        done = []
        while len(self.pending) >= self.size or (self.pending and self.pending[0].done()):
            done.append(self.pending.popleft().result())
        return done

    def drain(self):
        while self.pending:
            yield self.pending.popleft().result()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.pool is None:
            return
        for future in self.pending:
            future.cancel()
        # Each writer thread closes its own connection: the barrier holds every thread to one task.
        barrier = threading.Barrier(self.size)

        def close():
            barrier.wait()
            connections[self.using].close()

        for future in [self.pool.submit(close) for _ in range(self.size)]:
            future.result()
        self.pool.shutdown()


def _prefetched(reader, cursor):
    """The cursor's batches, each fetched in ``reader`` while the caller works on the one before.

    The first is small: nothing overlaps its fetch, so the writers start sooner.
    """
    pending = reader.submit(cursor.fetchmany, FIRST_BATCH)
    while rows := pending.result():
        pending = reader.submit(cursor.fetchmany, BATCH)
        yield rows


def _explain(source, spec, extra, source_id, count, rejected, started, using):
    """Name why rows were refused: dead letters keep their reason; the rest failed the sanity rule."""
    reasons = {}
    for reason in (
        DeadLetter.objects.using(using)
        .filter(time__gte=started, exchange=IMPORT_EXCHANGE, record_type=_record_type(spec))
        .values_list("reason", flat=True)
    ):
        reasons[reason] = reasons.get(reason, 0) + 1
    failing = rejected - sum(reasons.values())
    if failing > 0:
        with source.cursor() as cursor:
            cursor.execute(
                f"SELECT * FROM ({_source_select(spec, extra)}) s WHERE NOT coalesce({spec.valid}, false) LIMIT 3",
                [source_id],
            )
            samples = "; ".join(
                ", ".join(f"{c}={v}" for c, v in zip(spec.columns, row, strict=True) if c not in extra)
                for row in cursor.fetchall()
            )
        reasons[f"fails Kirby's {spec.name} sanity rule (tables.py), e.g. {samples}"] = failing
    for reason, number in reasons.items():
        count.reject(reason, number)


def _record_type(spec):
    return next(name for name, s in BY_DATA_TYPE.items() if s is spec)


def _verify(source, spec, extra, table, source_id, kirby_id, label, using, span):
    """Both sides summed at once: 1.x's in a thread, Kirby's here, over the span the 1.x rows cover."""
    fast = source.info.server_version >= FAST_HASH_VERSION

    def source_summary():
        with source.cursor() as cursor:
            cursor.execute(_summary_sql(_accepted(spec, extra), spec, fast), [source_id])
            return cursor.fetchone()

    def kirby_summary(first, last):
        kirby_rows_sql = f"SELECT * FROM {spec.name} WHERE {spec.series_column} = %s AND time BETWEEN %s AND %s"
        with connections[using].cursor() as cursor:
            cursor.execute(_summary_sql(kirby_rows_sql, spec, fast), [kirby_id, first, last])
            return cursor.fetchone()[:2]

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="v1-verify") as pool:
        pending = pool.submit(source_summary)
        kirby_rows, kirby_sum = kirby_summary(*span) if span is not None else (0, 0)
        source_rows, source_sum, first, last = pending.result()
    if source_rows and (first, last) != span:  # not when both read one snapshot; the span is what counts
        kirby_rows, kirby_sum = kirby_summary(first, last)
    elif not source_rows:
        kirby_rows = kirby_sum = 0
    return SeriesCheck(table, source_id, kirby_id, label, source_rows, kirby_rows, int(source_sum), int(kirby_sum))
