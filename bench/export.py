"""Export of 10 million candle rows to CSV and to Parquet, against PostgreSQL's own COPY of the same rows.

    .venv/bin/python bench/export.py [--rows 10000000]

It uses a database of its own, ``kirby_bench_export``. One bench starlisting
gets ``--rows`` one-minute candles (created once, in SQL, from 2000-01-01 on;
prices with 2-5 decimals, some zero volumes and NULL trade counts). Each
measurement runs in a child process of its own, so its peak memory (max RSS)
is its own:

- baseline: ``COPY (SELECT time, open, ..., closed FROM candles WHERE ...
  ORDER BY time) TO STDOUT WITH (FORMAT csv)`` streamed into a file by psycopg;
- csv: ``manage.py export``'s writer for the same rows (times as ISO-8601 Z);
- parquet: the same rows as Parquet, decimal128(38, 18) columns, zstd.

Prints rows/s, the ratio to the baseline and peak memory. It calls the
export code directly, the work behind ``manage.py export`` and the export
API's jobs, so no HTTP request is made and API keys play no part. Targets: CSV at
least 0.5 of plain COPY, peak memory under 300 MB for both formats.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
# Its 19 years of monthly partitions would slow the other benches' queries: a database of its own.
os.environ.setdefault("KIRBY_BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/kirby_bench_export")

from bench import common  # noqa: E402
from bench.figures import figure  # noqa: E402

EXCHANGE, COIN, QUOTE, MARKET_TYPE = "benchexport", "EXPORT", "USD", "perps"
START = datetime(2000, 1, 1, tzinfo=UTC)
CSV_TARGET, MEMORY_TARGET_MB = 0.5, 300
CHUNK_MINUTES = 1_000_000


def starlisting():
    from apps.markets.models import Coin, Exchange, Interval, MarketType, QuoteCurrency, Starlisting, TradingPair

    exchange, _ = Exchange.objects.get_or_create(name=EXCHANGE, defaults={"display_name": "Bench export"})
    coin, _ = Coin.objects.get_or_create(symbol=COIN)
    quote, _ = QuoteCurrency.objects.get_or_create(symbol=QUOTE)
    market_type, _ = MarketType.objects.get_or_create(name=MARKET_TYPE, defaults={"display_name": "Perpetuals"})
    pair, _ = TradingPair.objects.get_or_create(exchange=exchange, coin=coin, quote=quote, market_type=market_type)
    found, _ = Starlisting.objects.get_or_create(trading_pair=pair, interval=Interval.objects.get(name="1m"))
    return found


def ensure_rows(starlisting_id, rows):
    """Generate the candles in SQL (idempotent: only what is missing), a million minutes per statement."""
    from datetime import timedelta

    from django.db import connection

    from apps.marketdata.partitions import ensure_partitions

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM candles WHERE starlisting_id = %s", [starlisting_id])
        have = cursor.fetchone()[0]
        if have >= rows:
            return
        print(f"generating {rows - have:,} candles (once) ...", flush=True)
        ensure_partitions("candles", START, START + timedelta(minutes=rows))
        for first in range(have, rows, CHUNK_MINUTES):
            last = min(rows, first + CHUNK_MINUTES)
            cursor.execute(
                """
                INSERT INTO candles (starlisting_id, time, open, high, low, close, volume, num_trades, closed)
                SELECT %s, %s::timestamptz + i * interval '1 minute',
                       p, p + 0.5, p - 0.25, p + 0.125,
                       CASE WHEN i %% 97 = 0 THEN 0 ELSE (i %% 100000) / 1000.0 END,
                       CASE WHEN i %% 89 = 0 THEN NULL ELSE i %% 500 END, true
                FROM (SELECT i, round(30000 + (i %% 77777) / 7.0, (2 + i %% 4)::int) AS p
                      FROM generate_series(%s::bigint, %s::bigint - 1) AS i) s
                ON CONFLICT DO NOTHING
                """,
                [starlisting_id, START, first, last],
            )
            print(f"  {last:,} rows", flush=True)


def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(phase, starlisting_id, directory):
    """Run one phase in this process; return (rows, seconds, bytes written)."""
    from django.db import connection

    from apps.marketdata.export import spec
    from apps.marketdata.export.formats import CSV, PARQUET
    from apps.marketdata.export.resolve import Pair
    from apps.marketdata.export.run import ExportRequest, export_series

    started = time.perf_counter()
    if phase == "baseline":
        target = Path(directory) / "baseline.csv"
        columns = ", ".join(name for name, _ in spec.CANDLE_COLUMNS)
        sql = (
            f"COPY (SELECT {columns} FROM candles WHERE starlisting_id = %s ORDER BY time)"
            " TO STDOUT WITH (FORMAT csv, HEADER true)"
        )
        rows = -1
        with open(target, "wb", buffering=1 << 20) as handle, connection.cursor() as cursor:
            with cursor.cursor.copy(sql, [starlisting_id]) as copy:
                for line in copy:
                    handle.write(line)
                    rows += 1
        return rows, time.perf_counter() - started, target.stat().st_size
    pair = Pair(0, EXCHANGE, COIN, QUOTE, MARKET_TYPE)
    request = ExportRequest(spec.CANDLES, "default", pair, [("1m", starlisting_id)], numbers="decimal")
    fmt = CSV if phase == "csv" else PARQUET
    exported = export_series(request, "1m", starlisting_id, directory, "bench", fmt)
    return exported.rows, time.perf_counter() - started, exported.path.stat().st_size


def child(phase, starlisting_id):
    common.setup()
    with tempfile.TemporaryDirectory(prefix="kirby-export-bench-") as directory:
        rows, seconds, size = measure(phase, starlisting_id, directory)
    print(json.dumps({"rows": rows, "seconds": seconds, "bytes": size, "peak_mb": peak_mb()}))


def run_child(phase, starlisting_id):
    env = common.bench_environment()
    command = [sys.executable, __file__, "--phase", phase, "--starlisting", str(starlisting_id)]
    output = subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--phase", choices=["baseline", "csv", "parquet"], help=argparse.SUPPRESS)
    parser.add_argument("--starlisting", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        child(args.phase, args.starlisting)
        return
    common.setup()
    starlisting_id = starlisting().id
    ensure_rows(starlisting_id, args.rows)
    os.environ.update(common.bench_environment())
    results = {phase: run_child(phase, starlisting_id) for phase in ("baseline", "csv", "parquet")}
    base = results["baseline"]["rows"] / results["baseline"]["seconds"]
    print(f"\nexport of {results['csv']['rows']:,} candle rows (one starlisting, ascending time)")
    print(f"{'':10} {'rows/s':>12} {'ratio':>7} {'seconds':>8} {'MB out':>8} {'peak MB':>8}")
    for phase, result in results.items():
        speed = result["rows"] / result["seconds"]
        print(
            f"{phase:10} {speed:>12,.0f} {speed / base:>7.2f} {result['seconds']:>8.1f}"
            f" {result['bytes'] / 1e6:>8.1f} {result['peak_mb']:>8.0f}"
        )
    csv_ratio = results["csv"]["rows"] / results["csv"]["seconds"] / base
    memory_ok = all(results[p]["peak_mb"] < MEMORY_TARGET_MB for p in ("csv", "parquet"))
    print(f"\nCSV / COPY = {csv_ratio:.2f} (target >= {CSV_TARGET}): {'ok' if csv_ratio >= CSV_TARGET else 'MISSED'}")
    print(f"peak memory < {MEMORY_TARGET_MB} MB for both formats: {'ok' if memory_ok else 'MISSED'}")
    rows = results["csv"]["rows"]
    for phase, target in (("csv", (">=", CSV_TARGET)), ("parquet", None)):
        result = results[phase]
        figure(
            "export", f"{rows:,} candle rows to {phase.upper()}", result["rows"] / result["seconds"], "rows/s",
            baseline=base, baseline_name="COPY TO STDOUT", target=target,
        )  # fmt: skip
    figure(
        "export", "peak memory, the larger of CSV and Parquet",
        max(results[p]["peak_mb"] for p in ("csv", "parquet")), "MB", target=("<", MEMORY_TARGET_MB), on="value",
    )  # fmt: skip


if __name__ == "__main__":
    main()
