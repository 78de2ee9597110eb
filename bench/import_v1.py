"""``import_v1`` of 10,000,000 Kirby 1.x candle rows, against a plain COPY of the same rows.

    .venv/bin/python bench/import_v1.py [--rows 10000000] [--series 8]

Builds a 1.x database beside the bench database (1.x's DDL,
tests/fixtures/kirby_1x_schema.sql, without its NOTIFY trigger) holding
``--rows`` one-minute candles in ``--series`` starlistings from 2010 (months
no other bench uses), with 1.x's scale-18 numerics. Then, in the same run:

- baseline: the same rows piped as they are from ``COPY (SELECT ...) TO STDOUT`` into ``COPY ... FROM STDIN``
  of an unindexed, unpartitioned table in the bench database (what a DBA's ``psql \\copy`` would do);
- import: ``manage.py import_v1 --source ...`` (reference rows, every candle through the write path,
  then the per-series verification), timed as a whole.

Figures: rows/s of each and the ratio import / plain COPY (target >= 0.5).
The bench's candle partitions are dropped before and after, and the 1.x database is dropped at the end.
"""

import argparse
import io
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common  # noqa: E402
from bench.figures import figure  # noqa: E402

SCHEMA = common.REPO / "tests" / "fixtures" / "kirby_1x_schema.sql"
EXCHANGE = "v1bench"
BASELINE_TABLE = "bench_v1_copy_baseline"
YEARS = range(2010, 2016)  # the months this bench owns in Kirby's candles
TARGET = 0.5
SELECT = "SELECT time, starlisting_id, open, high, low, close, volume, num_trades FROM candles"


def source_url():
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    name = conninfo_to_dict(common.BENCH_DATABASE_URL)["dbname"] + "_v1src"
    return make_conninfo(common.BENCH_DATABASE_URL, dbname=name), name


def build_source(rows, series):
    """A fresh 1.x database with ``rows`` candles over ``series`` 1m starlistings; its URL."""
    import psycopg
    from psycopg.conninfo import make_conninfo

    url, name = source_url()
    admin = make_conninfo(common.BENCH_DATABASE_URL, dbname="postgres")
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')
    per_series = rows // series
    with psycopg.connect(url, autocommit=True) as db:
        db.execute(SCHEMA.read_text())
        db.execute("DROP TRIGGER candle_update_notify_trigger ON candles")
        db.execute(f"INSERT INTO exchanges (name, display_name, active) VALUES ('{EXCHANGE}', 'v1 bench', true)")
        db.execute("INSERT INTO market_types (name, display_name, active) VALUES ('perps', 'Perpetuals', true)")
        for number in range(series):
            db.execute(
                "INSERT INTO coins (symbol, name, active) VALUES (%s, '', true)", [f"V1B{number:03d}"]
            )  # fmt: skip
            db.execute(
                "INSERT INTO trading_pairs (exchange_id, coin_id, quote_currency_id, market_type_id)"
                " VALUES (1, %s, 1, 1)",
                [number + 1],
            )
            db.execute(
                "INSERT INTO starlistings (exchange_id, coin_id, quote_currency_id, market_type_id, interval_id,"
                " trading_pair_id, active) VALUES (1, %s, 1, 1, 1, %s, true)",
                [number + 1, number + 1],
            )
        started = time.perf_counter()
        # A random walk would cost more to build than it tells; prices vary per row, OHLC-sane.
        db.execute(
            "INSERT INTO candles (time, starlisting_id, open, high, low, close, volume, num_trades)"
            " SELECT timestamptz '2010-01-01 00:00+00' + m * interval '1 minute', s,"
            " 100 + (m %% 997) / 100.0 + s, 101 + (m %% 997) / 100.0 + s, 99 + (m %% 997) / 100.0 + s,"
            " 100.5 + (m %% 997) / 100.0 + s, (m %% 50000) / 1000.0, (m %% 3000)::int"
            " FROM generate_series(1, %s) s, generate_series(0, %s) m",
            [series, per_series - 1],
        )
        db.execute("VACUUM ANALYZE candles")
        print(f"1.x database {name}: {per_series * series:,} candles built in {time.perf_counter() - started:.0f} s")
    return url, per_series * series


def drop_source():
    import psycopg
    from psycopg.conninfo import make_conninfo

    _, name = source_url()
    with psycopg.connect(make_conninfo(common.BENCH_DATABASE_URL, dbname="postgres"), autocommit=True) as db:
        db.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def drop_bench_candles():
    from django.db import connection

    from apps.marketdata.partitions import forget_partitions, partition_name

    with connection.cursor() as cursor:
        for year in YEARS:
            for month in range(1, 13):
                cursor.execute(
                    f'DROP TABLE IF EXISTS "{partition_name("candles", datetime(year, month, 1, tzinfo=UTC))}"'
                )
    forget_partitions()


def plain_copy(url, rows):
    """Seconds to pipe the 1.x rows, bytes as they are, into an unindexed table of the bench database."""
    import psycopg
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {BASELINE_TABLE}")
        cursor.execute(
            f"CREATE TABLE {BASELINE_TABLE} (time timestamptz, starlisting_id bigint, open numeric, high numeric,"
            " low numeric, close numeric, volume numeric, num_trades bigint)"
        )
        cursor.execute("CHECKPOINT")
    started = time.perf_counter()
    with psycopg.connect(url) as source, psycopg.connect(common.BENCH_DATABASE_URL) as target:
        with source.cursor().copy(f"COPY ({SELECT}) TO STDOUT") as out:
            with target.cursor().copy(f"COPY {BASELINE_TABLE} FROM STDIN") as into:
                for block in out:
                    into.write(block)
        target.commit()
    elapsed = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {BASELINE_TABLE}")
        copied = cursor.fetchone()[0]
        cursor.execute(f"DROP TABLE {BASELINE_TABLE}")
    if copied != rows:
        raise SystemExit(f"plain COPY stored {copied} rows, expected {rows}")
    return elapsed


def run_import(url):
    from django.core.management import call_command
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("CHECKPOINT")
    out = io.StringIO()
    started = time.perf_counter()
    call_command("import_v1", source=url, quiet_progress=True, stdout=out)
    elapsed = time.perf_counter() - started
    report = out.getvalue()
    if "series verified" not in report:
        raise SystemExit(f"import_v1 did not verify:\n{report}")
    return elapsed, report


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--series", type=int, default=8)
    parser.add_argument("--again", action="store_true", help="Also time a second import (nothing to change)")
    args = parser.parse_args()
    common.setup()
    drop_bench_candles()
    try:
        url, rows = build_source(args.rows, args.series)
        baseline = plain_copy(url, rows)
        imported, report = run_import(url)
        print(report)
        candle_line = next(line for line in report.splitlines() if line.startswith("candles "))
        if int(candle_line.split()[2]) != rows:
            raise SystemExit(f"import_v1 wrote fewer candles than {rows}: {candle_line}")
        again = run_import(url)[0] if args.again else None
    finally:
        drop_bench_candles()
        drop_source()
    copy_rate, import_rate = common.rate(rows, baseline), common.rate(rows, imported)
    print(f"plain COPY (pipe, unindexed table): {rows:,} rows in {baseline:.1f} s = {copy_rate:,.0f} rows/s")
    print(f"import_v1 (write path + verification): {rows:,} rows in {imported:.1f} s = {import_rate:,.0f} rows/s")
    if again is not None:
        print(f"import_v1 again (nothing to change): {again:.1f} s")
    print(f"ratio import / plain COPY: {import_rate / copy_rate:.2f} (target >= {TARGET})")
    figure("import_v1", "plain COPY of 1.x candles", copy_rate, "rows/s")
    figure(
        "import_v1",
        "import_v1 of 1.x candles",
        import_rate,
        "rows/s",
        baseline=copy_rate,
        baseline_name="plain COPY",
        target=(">=", TARGET),
    )


if __name__ == "__main__":
    main()
