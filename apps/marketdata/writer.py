"""The one write path for market data.

Every candle, funding and open-interest row, live or historical, is stored
by ``write_candles`` / ``write_funding`` / ``write_open_interest``: COPY
into a temporary staging table, then one ``INSERT ... ON CONFLICT`` into the
partitioned table. Writing the same rows again changes nothing (no update,
no dead tuple, nothing published); a newer version of a row replaces the
stored one, except that a closed candle is never reopened. Rows that fail the
table's sanity rule are counted and logged, never stored, and never abort
the rest of the batch. After commit, the rows that changed are announced on
the ``market_data_written`` signal (the live fan-out listens there).
"""

import itertools
import logging
from dataclasses import dataclass, field

from django.db import connections, transaction
from django.dispatch import Signal

from apps.marketdata.partitions import ensure_partitions
from apps.marketdata.tables import CANDLES, FUNDING, OPEN_INTEREST

log = logging.getLogger(__name__)

# Sent after commit with sender=<table name> and rows=[record, ...] that were
# inserted or changed, in key order.
market_data_written = Signal()

_stage_numbers = itertools.count()
# An update leaves ingested_at as first stored; an insert sets it to the
# statement's start. (xmax = 0, the usual test, is not available on
# partitioned tables.)
_INSERTED = "(ingested_at = statement_timestamp())"


@dataclass
class WriteResult:
    received: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0  # identical to what was stored, or superseded within the batch
    rejected: int = 0
    rows: list = field(default_factory=list)  # changed rows, when requested

    @property
    def written(self):
        return self.inserted + self.updated


def write_candles(records, *, publish=True, using="default"):
    return _upsert(CANDLES, records, publish=publish, using=using)


def write_funding(records, *, publish=True, using="default"):
    return _upsert(FUNDING, records, publish=publish, using=using)


def write_open_interest(records, *, publish=True, using="default"):
    return _upsert(OPEN_INTEREST, records, publish=publish, using=using)


def _upsert(spec, records, *, publish, using):
    result = WriteResult()
    if not records:
        return result
    stage = f"stage_{spec.name}_{next(_stage_numbers)}"
    columns = ", ".join(spec.columns)
    series, time = spec.key
    with transaction.atomic(using=using), connections[using].cursor() as wrapper:
        cursor = wrapper.cursor  # the psycopg cursor, for COPY
        column_defs = ", ".join(f"{name} {sql_type}" for name, sql_type in spec.column_types.items())
        # The sanity rule is evaluated once per row, by the server while the
        # COPY streams in (the client is the slower side), as column ``ok``.
        cursor.execute(
            f"CREATE TEMPORARY TABLE {stage} ({column_defs}, seq bigint GENERATED ALWAYS AS IDENTITY,"
            f" ok boolean GENERATED ALWAYS AS (coalesce({spec.valid}, false)) STORED) ON COMMIT DROP"
        )
        with cursor.copy(f"COPY {stage} ({columns}) FROM STDIN") as copy:
            for record in records:
                copy.write_row(record)

        cursor.execute(
            f"SELECT count(*), count(*) FILTER (WHERE NOT ok),"
            f" min({time}) FILTER (WHERE ok), max({time}) FILTER (WHERE ok) FROM {stage}"
        )
        result.received, result.rejected, first, last = cursor.fetchone()
        if result.rejected:
            _log_rejected(cursor, spec, stage)
        if first is None:
            return result
        ensure_partitions(spec.name, first, last, using=using)

        assignments = ", ".join(f"{c} = EXCLUDED.{c}" for c in spec.values)
        target = ", ".join(f"t.{c}" for c in spec.values)
        incoming = ", ".join(f"EXCLUDED.{c}" for c in spec.values)
        # The latest row per key wins within a batch, as it would across batches.
        insert = (
            f"INSERT INTO {spec.name} AS t ({columns})"
            f" SELECT DISTINCT ON ({series}, {time}) {columns} FROM {stage}"
            f" WHERE ok ORDER BY {series}, {time}, seq DESC"
            f" ON CONFLICT ({series}, {time}) DO UPDATE SET {assignments}"
            f" WHERE ({target}) IS DISTINCT FROM ({incoming})"
            f" AND NOT ({spec.keep_existing.format(stored='t', incoming='EXCLUDED')})"
        )
        if publish:
            cursor.execute(f"{insert} RETURNING {_INSERTED}, {columns}")
            fetched = cursor.fetchall()
            result.inserted = sum(1 for row in fetched if row[0])
            result.updated = len(fetched) - result.inserted
            result.rows = [spec.record(*row[1:]) for row in fetched]
        else:
            cursor.execute(
                f"WITH done AS ({insert} RETURNING {_INSERTED} AS inserted)"
                " SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM done"
            )
            result.inserted, result.updated = cursor.fetchone()
        result.unchanged = result.received - result.rejected - result.written
        if publish and result.rows:
            rows = result.rows
            transaction.on_commit(
                lambda: market_data_written.send_robust(sender=spec.name, rows=rows, using=using), using=using
            )
    return result


def _log_rejected(cursor, spec, stage, sample=5):
    cursor.execute(
        f"SELECT {', '.join(spec.columns)} FROM {stage} WHERE NOT ok ORDER BY seq LIMIT %s",
        [sample],
    )
    for row in cursor.fetchall():
        log.warning("rejected %s row failing sanity checks: %s", spec.name, row)
