"""Bulk upsert of 1,000,000 candles through the write path, against a plain COPY of the same rows.

    .venv/bin/python bench/upsert.py

Writes 100 starlistings x 10,000 one-minute candles (January 2019, as a
backfill would) with ``write_candles(records, publish=False)`` in one call,
then writes the same rows again (idempotent: nothing inserted or updated).
The baseline is a plain psycopg COPY (``write_row`` per record, the same
Python records) into an unindexed, unpartitioned table, in the same run.
Figures are rows/s and the ratio upsert / plain COPY (target >= 0.5).
Runs against the bench database only and removes its rows afterwards.
"""

import argparse
import gc
import random
import sys
import time
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common  # noqa: E402
from bench.figures import figure  # noqa: E402

SERIES = 100
CANDLES_PER_SERIES = 10_000
START = datetime(2019, 1, 1, tzinfo=UTC)  # one monthly partition, used by no other bench
BASELINE_TABLE = "bench_copy_baseline"
COLUMNS = ("starlisting_id", "time", "open", "high", "low", "close", "volume", "num_trades", "closed")
TARGET = 0.5


def make_records(series_ids, per_series, seed=2019):
    """Closed 1m candles on a random walk: prices with 2 decimals, volumes with 4, OHLC-sane."""
    from apps.marketdata.records import CandleRecord

    rng = random.Random(seed)
    times = [START + timedelta(minutes=minute) for minute in range(per_series)]
    cents, units = {}, {}  # share equal Decimals; values stay exact

    def price(value):
        found = cents.get(value)
        if found is None:
            found = cents[value] = Decimal(value).scaleb(-2)
        return found

    def size(value):
        found = units.get(value)
        if found is None:
            found = units[value] = Decimal(value).scaleb(-4)
        return found

    records = []
    append = records.append
    randrange = rng.randrange
    for series_id in series_ids:
        last = randrange(100_00, 60_000_00)  # 100.00 .. 60,000.00
        for moment in times:
            step = max(last // 400, 1)
            open_ = last
            close = max(open_ + randrange(-step, step + 1), 1_00)
            wick = max(step // 2, 1)
            high = max(open_, close) + randrange(wick)
            low = max(min(open_, close) - randrange(wick), 1)
            append(
                CandleRecord(
                    series_id,
                    moment,
                    price(open_),
                    price(high),
                    price(low),
                    price(close),
                    size(randrange(0, 5_000_0000)),
                    randrange(0, 20_000),
                    True,
                )
            )
            last = close
    return records


def plain_copy(records):
    """Seconds to COPY ``records`` into a fresh unindexed, unpartitioned table, commit included."""
    from django.db import connection, transaction

    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {BASELINE_TABLE}")
        cursor.execute(
            f"CREATE TABLE {BASELINE_TABLE} (starlisting_id bigint, time timestamptz, open numeric, high numeric,"
            " low numeric, close numeric, volume numeric, num_trades bigint, closed boolean)"
        )
        cursor.execute("CHECKPOINT")
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as wrapper:
        with wrapper.cursor.copy(f"COPY {BASELINE_TABLE} ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for record in records:
                copy.write_row(record)
    elapsed = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {BASELINE_TABLE}")
        copied = cursor.fetchone()[0]
        cursor.execute(f"DROP TABLE {BASELINE_TABLE}")
    if copied != len(records):
        raise SystemExit(f"plain COPY stored {copied} rows, expected {len(records)}")
    return elapsed


def drop_bench_partition():
    """Remove the bench's candles (its own monthly partition) so every run starts empty."""
    from django.db import connection

    from apps.marketdata.partitions import forget_partitions, partition_name

    with connection.cursor() as cursor:
        cursor.execute(f'DROP TABLE IF EXISTS "{partition_name("candles", START)}"')
    forget_partitions()


PHASES = {
    "COPY": "COPY into the staging table",
    "SELECT": "summarise and check the staged rows",
    "WITH": "INSERT (plain for new keys, ON CONFLICT otherwise)",
    "INSERT": "INSERT (plain for new keys, ON CONFLICT otherwise)",
    "COMMIT": "commit",
}


@contextmanager
def phases():
    """Time spent per kind of statement on psycopg cursors while active: {label: seconds}."""
    import psycopg

    spent = {}

    def add(sql, seconds):
        words = str(sql).split(None, 1)
        label = PHASES.get(words[0].upper() if words else "", "other (staging DDL, partitions)")
        spent[label] = spent.get(label, 0.0) + seconds

    execute, copy, commit = psycopg.Cursor.execute, psycopg.Cursor.copy, psycopg.Connection.commit

    def timed_execute(self, query, *args, **kwargs):
        started = time.perf_counter()
        try:
            return execute(self, query, *args, **kwargs)
        finally:
            add(query, time.perf_counter() - started)

    @contextmanager
    def timed_copy(self, statement, *args, **kwargs):
        started = time.perf_counter()
        with copy(self, statement, *args, **kwargs) as running:
            yield running
        add("COPY", time.perf_counter() - started)

    def timed_commit(self):
        started = time.perf_counter()
        try:
            return commit(self)
        finally:
            add("COMMIT", time.perf_counter() - started)

    psycopg.Cursor.execute, psycopg.Cursor.copy, psycopg.Connection.commit = timed_execute, timed_copy, timed_commit
    try:
        yield spent
    finally:
        psycopg.Cursor.execute, psycopg.Cursor.copy, psycopg.Connection.commit = execute, copy, commit


def upsert(records):
    """(seconds, WriteResult, {phase: seconds}) of one ``write_candles`` call, commit included."""
    from django.db import connection

    from apps.marketdata.writer import write_candles

    with connection.cursor() as cursor:
        cursor.execute("CHECKPOINT")
    with phases() as spent:
        started = time.perf_counter()
        result = write_candles(records, publish=False)
        elapsed = time.perf_counter() - started
    spent["other (staging DDL, partitions)"] = elapsed - sum(
        seconds for label, seconds in spent.items() if not label.startswith("other")
    )
    return elapsed, result, spent


def stored_count(series_ids, per_series):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM candles WHERE starlisting_id = ANY(%s) AND time >= %s AND time < %s",
            [series_ids, START, START + timedelta(minutes=per_series)],
        )
        return cursor.fetchone()[0]


def check(condition, message):
    if not condition:
        raise SystemExit(f"FAILED: {message}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=SERIES)
    parser.add_argument("--candles", type=int, default=CANDLES_PER_SERIES, help="candles per starlisting")
    args = parser.parse_args()

    common.setup()
    series_ids = [series.id for series in common.ensure_starlistings(args.series)]
    started = time.perf_counter()
    records = make_records(series_ids, args.candles)
    total = len(records)
    print(f"generated {total:,} candle records in {time.perf_counter() - started:.1f} s")
    gc.collect()
    gc.freeze()  # a million records: keep the collector from walking them during the timed runs

    # COPY, upsert, upsert again, COPY: the baseline is the mean of the two COPYs, so drift hits both sides.
    drop_bench_partition()
    try:
        copy_seconds = [plain_copy(records)]
        first_seconds, first, first_phases = upsert(records)
        check(
            (first.received, first.inserted, first.updated, first.unchanged, first.rejected) == (total, total, 0, 0, 0),
            f"first upsert: {first}",
        )
        check(stored_count(series_ids, args.candles) == total, "first upsert did not store every row")
        again_seconds, again, again_phases = upsert(records)
        check(
            (again.received, again.inserted, again.updated, again.unchanged, again.rejected) == (total, 0, 0, total, 0),
            f"re-upsert was not idempotent: {again}",
        )
        check(stored_count(series_ids, args.candles) == total, "re-upsert changed the row count")
        copy_seconds.append(plain_copy(records))
    finally:
        drop_bench_partition()

    baseline = sum(copy_seconds) / len(copy_seconds)
    print()
    print(f"bulk upsert of {total:,} candles ({args.series} starlistings x {args.candles:,} 1m candles), one call each")
    print(f"  {'':36} {'seconds':>8} {'rows/s':>10} {'vs COPY':>8}")
    runs = (
        ("plain COPY, unindexed (baseline)", baseline),
        ("write_candles, new rows", first_seconds),
        ("write_candles, same rows again", again_seconds),
    )
    for label, seconds in runs:
        print(f"  {label:36} {seconds:8.2f} {common.rate(total, seconds):10,.0f} {baseline / seconds:8.2f}")
    print(f"  (plain COPY runs: {' / '.join(f'{seconds:.2f} s' for seconds in copy_seconds)})")
    print(f"  new rows:   inserted {first.inserted:,}, updated {first.updated:,}, rejected {first.rejected:,}")
    print(f"  same again: inserted {again.inserted:,}, updated {again.updated:,}, unchanged {again.unchanged:,}")
    for label, spent in (("new rows", first_phases), ("same again", again_phases)):
        order = [*dict.fromkeys(PHASES.values()), "other (staging DDL, partitions)"]
        parts = ", ".join(f"{name} {spent[name]:.2f} s" for name in order if spent.get(name, 0) >= 0.005)
        print(f"  where the time goes, {label}: {parts}")
    ratio = baseline / first_seconds
    print(f"  target write_candles >= {TARGET} x plain COPY: {'met' if ratio >= TARGET else 'MISSED'} ({ratio:.2f})")
    scale = f"{total:,} candles"
    copy_rate = common.rate(total, baseline)
    for label, seconds, target in (("new", first_seconds, (">=", TARGET)), ("the same again", again_seconds, None)):
        figure(
            "upsert", f"write_candles, {scale}, {label}", common.rate(total, seconds), "rows/s",
            baseline=copy_rate, baseline_name="plain COPY, unindexed", target=target,
        )  # fmt: skip


if __name__ == "__main__":
    main()
