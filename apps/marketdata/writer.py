"""The one write path for market data.

Every candle, funding and open-interest row, live or historical, is stored
by ``write_candles`` / ``write_funding`` / ``write_open_interest``: COPY
into a temporary staging table, then one ``INSERT ... ON CONFLICT`` into the
partitioned table. Writing the same rows again changes nothing (no update,
no dead tuple, nothing published); a newer version of a row replaces the
stored one, except that a closed candle is never reopened. Rows that fail the
table's sanity rule are counted and logged, never stored, and never abort
the rest of the batch. A row out of bounds (bounds.py), or one the database
refuses (a batch that fails with a data error is split in halves until the
row is isolated), is set aside in the dead-letter table with its reason and
the rest is stored, so one bad row never blocks its record type. Rows given as COPY text
without publishing (``write_copy_text``, the 1.x import) skip the staging when the batch is
clean (``_copy_straight``). After commit, the rows that changed are announced on
the ``market_data_written`` signal (the live fan-out listens there).
Trades, the busiest type, take shortcuts that change nothing of the above: a batch of new, sane trades whose
pairs have nothing stored within its time range is COPYed straight into the table (a key stored meanwhile
or twice in the batch undoes it, and the staged way decides); and when every trade of a batch was inserted,
the records sent are announced (Decimal numbers, UTC times: as the database would give them back) instead
of reading them back with RETURNING, which cost about as much as storing them.
Each call is one batch for the ``kirby_*`` metrics (rows written and
rejected, flush duration), labelled with the ``exchange`` the caller names.
"""

import collections
import itertools
import logging
import operator
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import NamedTuple

import psycopg
from django.db import DataError, IntegrityError, connections, transaction
from django.dispatch import Signal

from apps.marketdata import record_json, trade_counts, trade_lines
from apps.marketdata.bounds import all_within, checker, series_within, time_range
from apps.marketdata.cache import series_written
from apps.marketdata.models import DeadLetter
from apps.marketdata.partitions import ensure_partitions
from apps.marketdata.queries import fast_timestamps
from apps.marketdata.tables import (
    BOOLEAN,
    BY_DATA_TYPE,
    CANDLES,
    DECIMAL,
    FUNDING,
    INTEGER,
    OPEN_INTEREST,
    ORDER_BOOKS,
    TIME,
    TRADES,
)
from lib.metrics import record_dead_letters, record_write

log = logging.getLogger(__name__)

# Sent after commit with sender=<table name> and rows=[record, ...] that were
# inserted or changed (no order promised).
market_data_written = Signal()

_stage_numbers = itertools.count()
# An update leaves ingested_at as first stored; an insert sets it to the
# statement's start. (xmax = 0, the usual test, is not available on
# partitioned tables.)
_INSERTED = "(ingested_at = statement_timestamp())"
LARGE_BATCH = 100_000
# Record type names of the metrics (the data types), by table.
METRIC_TYPES = {spec.name: data_type for data_type, spec in BY_DATA_TYPE.items()} | {
    TRADES.name: "trades",
    ORDER_BOOKS.name: "orderbook",
}
# What the database says about a row it will not take (SQLSTATE classes 22 and 23), as opposed to
# the database being away (OperationalError): the caller retries those, the row is never at fault.
REFUSED = (DataError, IntegrityError, psycopg.DataError, psycopg.IntegrityError)


class Unsendable(Exception):
    """A record psycopg cannot send (a value of a type it does not know); refused like a data error."""


REFUSED += (Unsendable,)


@dataclass
class WriteResult:
    received: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0  # identical to what was stored, or superseded within the batch
    rejected: int = 0
    dead_lettered: int = 0  # set aside in the dead-letter table
    rows: list = field(default_factory=list)  # changed rows, when requested

    @property
    def written(self):
        return self.inserted + self.updated


def write_candles(records, *, publish=True, using="default", exchange=""):
    return _measured(CANDLES, records, publish=publish, using=using, exchange=exchange)


def write_funding(records, *, publish=True, using="default", exchange=""):
    return _measured(FUNDING, records, publish=publish, using=using, exchange=exchange)


def write_open_interest(records, *, publish=True, using="default", exchange=""):
    return _measured(OPEN_INTEREST, records, publish=publish, using=using, exchange=exchange)


def write_trades(records, *, publish=True, using="default", exchange=""):
    """Trades are stored once per (pair, time, venue trade id): a replay changes nothing and is not announced."""
    return _measured(TRADES, records, publish=publish, using=using, exchange=exchange)


def write_orderbooks(records, *, publish=True, using="default", exchange=""):
    return _measured(ORDER_BOOKS, records, publish=publish, using=using, exchange=exchange)


def write_copy_text(spec, text, *, publish=True, using="default", exchange=""):
    """Store rows of ``spec`` given as PostgreSQL COPY text (one line per row, tab-separated, ``\\N`` for
    null, ``spec.columns`` in order; numbers, times and booleans need no escapes), for sources that can
    produce it (a database: the 1.x import).

    The lines are staged as they are, without a Python object per row; the rules are the records' (the
    sanity rule, the bounds, the merge). A batch with a row out of bounds, or one the database refuses,
    is parsed into records and goes the records' way, which sets such rows aside with their reason.
    """
    if not text:
        return WriteResult()
    started = time.perf_counter()
    data = text.encode() if isinstance(text, str) else text
    lines = data.count(b"\n") + (not data.endswith(b"\n"))
    result = None if publish else _copy_straight(spec, data, lines, using)
    if result is not None:
        record_write(exchange, METRIC_TYPES[spec.name], result, time.perf_counter() - started)
        return result
    try:
        result = _store(spec, lambda copy: copy.write(data), lines, publish=publish, using=using, bounded=False)
    except (_OutOfBounds, *REFUSED) as error:
        log.warning("%s COPY batch goes the records' way (%s)", spec.name, _reason(error))
        return _measured(spec, parse_copy_text(spec, data), publish=publish, using=using, exchange=exchange)
    record_write(exchange, METRIC_TYPES[spec.name], result, time.perf_counter() - started)
    return result


class _NotClean(Exception):
    pass


def _copy_straight(spec, data, lines, using):
    """The clean batch's fast path: COPY straight into the table, without staging; None when not clean.

    Clean: every row of a known series, passing the sanity rule, within the time bounds, and no key
    stored before nor twice in the batch. Such rows would be inserted as they are anyway; staging
    them first (write, read back, summarise) cost more than the insert itself. ``COPY ... WHERE``
    skips a row failing the rule or the bounds, a stored key or a missing partition fails the COPY,
    and either way the transaction is rolled back and the batch takes the staged path, which treats
    each such row as it always did. Without RETURNING (no rows to publish) only.
    """
    series = _series_of(data, lines)
    if not series:
        return None
    earliest, latest = time_range()
    in_bounds = " AND ".join(  # a null time is the sanity rule's to judge, as on the staged path
        f"({c.name} IS NULL OR {c.name} BETWEEN '{earliest.isoformat()}' AND '{latest.isoformat()}')"
        for c in spec.table_columns
        if c.kind == TIME
    )
    try:
        with transaction.atomic(using=using), connections[using].cursor() as wrapper:
            cursor = wrapper.cursor
            if _unknown_series(cursor, spec, list(series)) or _first_key_stored(cursor, spec, data):
                raise _NotClean
            with cursor.copy(
                f"COPY {spec.name} ({', '.join(spec.columns)}) FROM STDIN WHERE ({spec.valid}) AND {in_bounds}"
            ) as copy:
                copy.write(data)
            if cursor.rowcount != lines:
                raise _NotClean
            if using == "default":  # the cache serves the live database only
                transaction.on_commit(lambda: series_written(spec.name, list(series)), using=using)
    except (_NotClean, *REFUSED):
        return None
    return WriteResult(received=lines, inserted=lines)


def _first_key_stored(cursor, spec, data):
    """Whether the first line's key is stored: a batch written before (a re-run) goes the staged way
    at once, rather than through a COPY failing on a duplicate key (and an error in the server's log)."""
    key = data.split(b"\n", 1)[0].split(b"\t")[: spec.key_size]
    if len(key) < spec.key_size or b"\\N" in key:
        return False
    types = spec.column_types
    cursor.execute(
        f"SELECT EXISTS (SELECT 1 FROM {spec.name} WHERE ({', '.join(spec.key)})"
        f" = ({', '.join(f'%s::{types[c]}' for c in spec.key)}))",
        [value.decode() for value in key],
    )
    return cursor.fetchone()[0]


def _series_of(data, lines):
    """The series ids (first fields) of COPY text lines; None when one is not an integer."""
    first = data[: data.find(b"\t")]
    # A batch is usually one series: counting its prefix at line starts runs at memory speed.
    if data.count(b"\n" + first + b"\t") == lines - 1:
        keys = {first}
    else:
        keys = {line.partition(b"\t")[0] for line in data.splitlines()}
    try:
        return {int(key) for key in keys}
    except ValueError:
        return None


def parse_copy_text(spec, data):
    """COPY text lines -> records; a value that does not parse stays text, for the bounds to name."""
    parsers = [_TEXT_PARSERS.get(c.kind, str) for c in spec.table_columns]
    records = []
    for line in data.decode().splitlines():
        fields = line.split("\t")
        values = [None if f == "\\N" else _parsed(parse, f) for parse, f in zip(parsers, fields, strict=False)]
        records.append(tuple(values) if len(values) != len(parsers) else spec.record(*values))
    return records


def _parsed(parse, text):
    try:
        return parse(text)
    except ValueError:
        return text


def _boolean(text):
    if text in ("t", "true"):
        return True
    if text in ("f", "false"):
        return False
    raise ValueError(text)


def _time(text):
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise ValueError(text)
    return value


_TEXT_PARSERS = {INTEGER: int, TIME: _time, BOOLEAN: _boolean, DECIMAL: str}


class _OutOfBounds(Exception):
    pass


def _measured(spec, records, *, publish, using, exchange):
    if not records:
        return WriteResult()
    started = time.perf_counter()
    result = _append(spec, records, publish=publish, using=using) if spec is TRADES else None
    if result is not None:  # the usual live batch of trades: checked, bounded and stored in one go
        record_write(exchange, METRIC_TYPES[spec.name], result, time.perf_counter() - started)
        return result
    accepted, dead = [], []
    if all_within(spec, records):
        accepted = list(records)
    else:
        check = checker(spec)
        for record in records:
            reason = check(record)
            if reason is None:
                accepted.append(record)
            else:
                dead.append((record, reason))
    result = _split_on_refusal(spec, accepted, dead, publish=publish, using=using)
    if dead:
        _set_aside(spec, dead, exchange, using)
        result.received += len(dead)
        result.dead_lettered = len(dead)
    record_write(exchange, METRIC_TYPES[spec.name], result, time.perf_counter() - started)
    return result


def _split_on_refusal(spec, records, dead, *, publish, using):
    """Store ``records``; when the database refuses the batch, store each half, down to the refused row."""
    try:
        return _upsert(spec, records, publish=publish, using=using)
    except REFUSED as error:
        if len(records) == 1:
            dead.append((records[0], _reason(error)))
            return WriteResult()
        log.warning("%s batch of %d refused (%s); splitting it", spec.name, len(records), _reason(error))
    # In order: a later version of a row in the second half still wins over the first half's.
    middle = len(records) // 2
    first = _split_on_refusal(spec, records[:middle], dead, publish=publish, using=using)
    second = _split_on_refusal(spec, records[middle:], dead, publish=publish, using=using)
    return WriteResult(
        received=first.received + second.received,
        inserted=first.inserted + second.inserted,
        updated=first.updated + second.updated,
        unchanged=first.unchanged + second.unchanged,
        rejected=first.rejected + second.rejected,
        rows=first.rows + second.rows,
    )


def _reason(error):
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def _set_aside(spec, dead, exchange, using):
    record_type = METRIC_TYPES[spec.name]
    for record, reason in dead:
        log.error("%s row set aside in the dead-letter table: %s: %s", spec.name, reason, record)
    DeadLetter.objects.using(using).bulk_create(
        [
            DeadLetter(record_type=record_type, exchange=exchange[:50], payload=record_json.dumps(r), reason=reason)
            for r, reason in dead
        ]
    )
    record_dead_letters(exchange, record_type, len(dead))


def _upsert(spec, records, *, publish, using):
    if not records:
        return WriteResult()
    return _store(
        spec, lambda copy: _copy_records(copy, records), len(records), publish=publish, using=using, records=records
    )


def _store(spec, send, size, *, publish, using, bounded=True, records=None):
    """Stage the rows ``send(copy)`` writes to a COPY, then store them; ``size`` is about how many rows.

    ``bounded=False``: the rows have not been through the bounds check; _OutOfBounds is raised (and
    the transaction rolled back) when one is out of bounds. ``records``: the rows sent, when the caller
    has them as records (the announcement of new trades can then be made from them).
    """
    result = WriteResult()
    with transaction.atomic(using=using), connections[using].cursor() as wrapper:
        fast_timestamps(wrapper)  # the rows RETURNING gives back: a million trades would spend seconds here
        cursor = wrapper.cursor  # the psycopg cursor, for COPY
        stage = _stage(cursor, spec, send)
        if size >= LARGE_BATCH:
            # Sorting a large batch for DISTINCT ON would otherwise spill to disk.
            cursor.execute("SET LOCAL work_mem = '256MB'")
        series = _summarise(cursor, spec, stage, bounded)
        if not bounded and any(s.out_of_bounds for s in series.values()):
            raise _OutOfBounds("a row is out of bounds")
        result.received = sum(s.count for s in series.values())
        result.rejected = sum(s.bad for s in series.values())
        if result.rejected:
            _log_rejected(cursor, spec, stage)
        series = {key: s for key, s in series.items() if s.first is not None}
        unknown = _unknown_series(cursor, spec, list(series))
        if unknown:
            result.rejected += sum(series[key].count - series[key].bad for key in unknown)
            series = {key: s for key, s in series.items() if key not in unknown}
            cursor.execute(f"DELETE FROM {stage} WHERE {spec.key[0]} = ANY(%s)", [list(unknown)])
            log.warning("rejected %s rows of unknown series %s", spec.name, sorted(unknown))
        if not series:
            return result
        ensure_partitions(
            spec.name, min(s.first for s in series.values()), max(s.last for s in series.values()), using=using
        )

        rows = None
        # Trades all inserted, none refused, are announced as sent, as the database would give them back:
        # RETURNING them cost about as much as storing them.
        sent = records if publish and not result.rejected and _as_stored(spec, records) else None
        if _nothing_stored_in_range(cursor, spec, series):
            rows = _insert_new(cursor, spec, stage, publish, using, sent)
        if rows is None and sent is not None:
            rows = _insert_unless_stored(cursor, spec, stage, using, sent)
        if rows is None:
            rows = _merge(cursor, spec, stage, publish)
        result.inserted, result.updated, result.rows = rows
        result.unchanged = result.received - result.rejected - result.written
        _after_commit(spec, result, list(series), publish, using)
    return result


def _after_commit(spec, result, series, publish, using, texts=None):
    """Once committed: the cache told which ``series`` were written, the changed rows announced (trades written
    by COPY with their ``copy_texts`` as well, trade_lines: the fan-out sends those on as they are)."""
    if result.written and using == "default":  # the cache serves the live database only
        transaction.on_commit(lambda: series_written(spec.name, series), using=using)
    if publish and result.rows:
        changed = result.rows
        extra = {} if texts is None else {"copy_texts": texts}
        transaction.on_commit(
            lambda: market_data_written.send_robust(sender=spec.name, rows=changed, using=using, **extra), using=using
        )
        if spec is TRADES and using == "default":  # trades stored per pair in the last minute (/api/status)
            if texts is None:
                stored = collections.Counter(map(operator.itemgetter(0), changed))
            else:
                stored = {pair_id: text.count("\n") for pair_id, text in texts.items()}
            transaction.on_commit(lambda: trade_counts.count_stored(stored), using=using)


def _append(spec, records, *, publish, using):
    """New trades COPYed straight into their table, without a staging table: the usual live batch.

    Only when every record is as stored, sane and within bounds (_appendable), its pair exists, and none
    of its keys can be stored: no stored trade of its pair lies after the batch's first time of that pair up
    to its last, nor at that first time with one of the batch's ids (the previous batch often ends within
    that millisecond). A key stored meanwhile, or twice in the batch, or a value the database refuses,
    undoes the COPY. None (nothing stored) whenever that is not so: the records' way decides, which sets
    aside what is out of bounds or refused. The COPY text is announced as it was written (trade_lines).
    """
    of_pair, series = _appendable(records)
    if of_pair is None:
        return None
    try:
        with transaction.atomic(using=using), connections[using].cursor() as wrapper:
            cursor = wrapper.cursor
            if _unknown_series(cursor, spec, list(series)):
                return None
            ensure_partitions(
                spec.name, min(s.first for s in series.values()), max(s.last for s in series.values()), using=using
            )
            if _some_key_stored(cursor, of_pair, series):
                return None
            texts = trade_lines.copy_texts(of_pair)
            try:
                with (
                    transaction.atomic(using=using),
                    cursor.copy(f"COPY {spec.name} ({', '.join(spec.columns)}) FROM STDIN") as copy,
                ):
                    copy.write("".join(texts.values()))
            except (psycopg.errors.UniqueViolation, psycopg.errors.CheckViolation, IntegrityError):
                return None
            result = WriteResult(received=len(records), inserted=len(records), rows=list(records) if publish else [])
            _after_commit(spec, result, list(series), publish, using, texts)
    except REFUSED:
        return None
    return result


_ZERO = Decimal(0)  # a Decimal compares with a Decimal faster than with an int
_TIME = operator.itemgetter(1)


def _appendable(records):
    """``(records by pair, {pair: _Series})`` when every record is a trade as stored (_as_stored), sane (the
    table's rule, tables.TRADES.valid) and within bounds (bounds.py), checked and grouped in one pass (the
    flood's busiest loop); ``(None, None)`` when one is not."""
    of_pair = {}
    try:
        for record in records:
            pair_id, moment, trade_id, price, size, side = record
            if not (
                type(moment) is datetime and moment.tzinfo is UTC and type(trade_id) is str and trade_id
                and type(price) is Decimal and type(size) is Decimal and price.is_finite() and size.is_finite()
                and price > _ZERO and size > _ZERO and (side == "buy" or side == "sell")
            ):  # fmt: skip
                return None, None
            found = of_pair.get(pair_id)
            if found is None:
                of_pair[pair_id] = [record]
            else:
                found.append(record)
    except (ValueError, TypeError):  # not six fields, or a key that does not hash
        return None, None
    earliest, latest = time_range()
    series = {}
    for pair_id, rows in of_pair.items():
        times = list(map(_TIME, rows))
        first, last = min(times), max(times)
        if not series_within(pair_id, first, last, earliest, latest):
            return None, None
        series[pair_id] = _Series(len(rows), 0, first, last)
    return of_pair, series


class _Series(NamedTuple):
    count: int
    bad: int
    first: object
    last: object
    out_of_bounds: int = 0


def _stage(cursor, spec, send):
    """COPY rows into a temporary table; the server evaluates the sanity rule as column ``ok``."""
    stage = f"stage_{spec.name}_{next(_stage_numbers)}"
    column_defs = ", ".join(f"{name} {sql_type}" for name, sql_type in spec.column_types.items())
    cursor.execute(
        f"CREATE TEMPORARY TABLE {stage} ({column_defs}, seq bigint GENERATED ALWAYS AS IDENTITY,"
        f" ok boolean GENERATED ALWAYS AS (coalesce({spec.valid}, false)) STORED) ON COMMIT DROP"
    )
    with cursor.copy(f"COPY {stage} ({', '.join(spec.columns)}) FROM STDIN") as copy:
        send(copy)
    return stage


def _copy_records(copy, records):
    for record in records:
        try:
            copy.write_row(record)
        except (psycopg.ProgrammingError, TypeError, ValueError) as error:
            raise Unsendable(f"cannot send {record!r}: {error}") from error


def _some_key_stored(cursor, of_pair, series):
    """Whether a stored trade may have the key of one of the records (``of_pair``: by pair; ``series``: their
    first and last times): any stored after a pair's first time up to its last, or one at its first time with
    a batch id."""
    at_first = [(r[0], r[1], r[2]) for pair_id, rows in of_pair.items() for r in rows if r[1] == series[pair_id].first]
    cursor.execute(
        "SELECT EXISTS (SELECT 1 FROM unnest(%s::bigint[], %s::timestamptz[], %s::timestamptz[]) AS s(id, first, last)"
        " WHERE EXISTS (SELECT 1 FROM trades t"
        " WHERE t.trading_pair_id = s.id AND t.time > s.first AND t.time <= s.last))"
        " OR EXISTS (SELECT 1 FROM unnest(%s::bigint[], %s::timestamptz[], %s::text[]) AS k(id, time, trade_id)"
        " JOIN trades t ON t.trading_pair_id = k.id AND t.time = k.time AND t.trade_id = k.trade_id)",
        [
            list(series),
            [s.first for s in series.values()],
            [s.last for s in series.values()],
            *(list(column) for column in zip(*at_first, strict=True)),
        ],
    )
    return bool(cursor.fetchone()[0])


def _summarise(cursor, spec, stage, bounded=True):
    series, time = spec.series_column, "time"
    outside = "0"
    if not bounded:
        earliest, latest = time_range()
        times = [c.name for c in spec.table_columns if c.kind == TIME]
        condition = " OR ".join(f"{c} NOT BETWEEN '{earliest.isoformat()}' AND '{latest.isoformat()}'" for c in times)
        outside = f"count(*) FILTER (WHERE {condition})"
    cursor.execute(
        f"SELECT {series}, count(*), count(*) FILTER (WHERE NOT ok),"
        f" min({time}) FILTER (WHERE ok), max({time}) FILTER (WHERE ok), {outside} FROM {stage} GROUP BY 1"
    )
    return {row[0]: _Series(*row[1:]) for row in cursor.fetchall()}


def _unknown_series(cursor, spec, keys):
    """Ids of the batch's series that do not exist (the tables keep no foreign keys)."""
    if not keys:
        return set()
    cursor.execute(f"SELECT id FROM {spec.series_table} WHERE id = ANY(%s)", [keys])
    return set(keys) - {row[0] for row in cursor.fetchall()}


def _nothing_stored_in_range(cursor, spec, series):
    """True when no series has a stored row between its batch's first and last time (appends, backfills)."""
    name, time = spec.series_column, "time"
    cursor.execute(
        f"SELECT NOT EXISTS (SELECT 1 FROM unnest(%s::bigint[], %s::timestamptz[], %s::timestamptz[])"
        f" AS s(id, first, last) WHERE EXISTS (SELECT 1 FROM {spec.name} t"
        f" WHERE t.{name} = s.id AND t.{time} BETWEEN s.first AND s.last))",
        [list(series), [s.first for s in series.values()], [s.last for s in series.values()]],
    )
    return bool(cursor.fetchone()[0])


def _as_stored(spec, records):
    """True when ``records`` are trades exactly as the database gives them back: text ids, Decimal
    numbers (numeric keeps a decimal's digits and scale), times in UTC."""
    if spec is not TRADES or records is None:
        return False
    return all(
        type(r[2]) is str
        and type(r[3]) is Decimal
        and type(r[4]) is Decimal
        and type(r[1]) is datetime
        and r[1].tzinfo is UTC
        for r in records
    )


def _insert_new(cursor, spec, stage, publish, using, sent=None):
    """Plain INSERT, without the cost of ON CONFLICT; None if a key exists after all (then merge).

    ``sent``: the records staged, every one fit to store; all are inserted or none, so they are the rows
    to announce.
    """
    columns = ", ".join(spec.columns)
    insert = f"INSERT INTO {spec.name} ({columns}) SELECT {columns} FROM {stage} WHERE ok"
    try:
        with transaction.atomic(using=using):
            if publish and sent is not None:
                cursor.execute(insert)
                if cursor.rowcount != len(sent):  # cannot be, unless the staging lost a row: no guessing
                    raise RuntimeError(f"{len(sent)} {spec.name} rows staged, {cursor.rowcount} inserted")
                return len(sent), 0, list(sent)
            if publish:
                cursor.execute(f"{insert} RETURNING {columns}")
                rows = [spec.record(*row) for row in cursor.fetchall()]
                return len(rows), 0, rows
            cursor.execute(insert)
            return cursor.rowcount, 0, []
    except psycopg.errors.UniqueViolation:
        # A duplicate within the batch, or a concurrent writer got there first.
        return None


class _SomeStored(Exception):
    """Some rows of the batch were stored already: the rows inserted must be asked for."""


def _insert_unless_stored(cursor, spec, stage, using, sent):
    """The merge without RETURNING, for a table whose stored rows never change (trades); ``sent`` (the
    records staged) are the rows inserted when all were, and none when none was. None (and nothing
    done) when some were."""
    try:
        with transaction.atomic(using=using):
            cursor.execute(_merge_sql(spec, stage))
            inserted = cursor.rowcount
            if inserted and inserted != len(sent):
                raise _SomeStored
    except _SomeStored:
        return None
    return inserted, 0, list(sent) if inserted else []  # all or none (a replay): nothing to ask for


def _merge_sql(spec, stage):
    columns = ", ".join(spec.columns)
    key = ", ".join(spec.key)
    # The latest row per key wins within a batch, as it would across batches.
    insert = (
        f"INSERT INTO {spec.name} AS t ({columns})"
        f" SELECT DISTINCT ON ({key}) {columns} FROM {stage}"
        f" WHERE ok ORDER BY {key}, seq DESC"
    )
    if spec.keep_existing == "true":  # a stored row is never replaced: no update to consider (nor lock)
        return f"{insert} ON CONFLICT ({key}) DO NOTHING"
    assignments = ", ".join(f"{c} = EXCLUDED.{c}" for c in spec.values)
    target = ", ".join(f"t.{c}" for c in spec.values)
    incoming = ", ".join(f"EXCLUDED.{c}" for c in spec.values)
    return (
        f"{insert} ON CONFLICT ({key}) DO UPDATE SET {assignments}"
        f" WHERE ({target}) IS DISTINCT FROM ({incoming})"
        f" AND NOT ({spec.keep_existing.format(stored='t', incoming='EXCLUDED')})"
    )


def _merge(cursor, spec, stage, publish):
    """INSERT ... ON CONFLICT: new keys inserted, changed rows updated, identical rows left alone."""
    columns = ", ".join(spec.columns)
    insert = _merge_sql(spec, stage)
    if publish:
        cursor.execute(f"{insert} RETURNING {_INSERTED}, {columns}")
        fetched = cursor.fetchall()
        inserted = sum(1 for row in fetched if row[0])
        return inserted, len(fetched) - inserted, [spec.record(*row[1:]) for row in fetched]
    cursor.execute(
        f"WITH done AS ({insert} RETURNING {_INSERTED} AS inserted)"
        " SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM done"
    )
    inserted, updated = cursor.fetchone()
    return inserted, updated, []


def _log_rejected(cursor, spec, stage, sample=5):
    cursor.execute(
        f"SELECT {', '.join(spec.columns)} FROM {stage} WHERE NOT ok ORDER BY seq LIMIT %s",
        [sample],
    )
    for row in cursor.fetchall():
        log.warning("rejected %s row failing sanity checks: %s", spec.name, row)
