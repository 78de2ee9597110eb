"""The 1m-candle purge of one month while live ingestion runs, against the same ingestion without a purge.

    .venv/bin/python bench/retention_purge.py                     # 100 series x one month (4,320,000 candles)
    .venv/bin/python bench/retention_purge.py --minutes 300 --seconds 1   # the smoke

One month (February 2016, a partition no other bench uses) holds 1m candles
of 100 starlistings and 1h candles of the same pairs, so the 1m policy
cannot drop the partition whole: its rows go in batches
(KIRBY_RETENTION_BATCH_ROWS, KIRBY_RETENTION_PAUSE_SECONDS), as the daily
task does. Ingestion is a loop of ``write_candles`` batches of the current
minute (100 rows, one per series, as a collector flushes), first alone for
``--seconds`` before and after the purge (the baseline is their mean), and
while the purge runs. Figures: ingestion rows/s during
the purge against without (target >= 0.8), and the purge's rows/s.
"""

import argparse
import sys
import threading
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common  # noqa: E402
from bench.figures import figure  # noqa: E402

SERIES = 100
MONTH = datetime(2016, 2, 1, tzinfo=UTC)
TARGET = 0.8


def ingest(series, stop, counts):
    """Write one batch per series-minute until ``stop``; counts rows and batch latencies."""
    from django.db import connection

    from apps.marketdata.records import CandleRecord
    from apps.marketdata.writer import write_candles

    minute = datetime.now(UTC).replace(second=0, microsecond=0)
    low, high, volume = Decimal("90"), Decimal("110"), Decimal("12.5")
    try:
        while not stop.is_set():
            close = Decimal(100 + len(counts) % 10)  # the open candle changes: every batch is a real update
            started = time.perf_counter()
            write_candles([CandleRecord(sid, minute, close, high, low, close, volume, 7, False) for sid in series],
                          publish=False)  # fmt: skip
            counts.append(time.perf_counter() - started)
    finally:
        connection.close()


def rate_for(series, seconds, during=None):
    stop, counts = threading.Event(), []
    worker = threading.Thread(target=ingest, args=(series, stop, counts))
    worker.start()
    started = time.perf_counter()
    if during is not None:
        during()
    else:
        time.sleep(seconds)
    stop.set()
    worker.join()
    elapsed = time.perf_counter() - started
    return len(counts) * len(series) / elapsed, elapsed, sorted(counts)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=int, default=43_200, help="1m candles per series in the month")
    parser.add_argument("--seconds", type=float, default=20.0, help="ingestion alone, for the baseline")
    options = parser.parse_args()
    common.setup()
    from django.conf import settings
    from django.db import connection

    from apps.marketdata import retention
    from apps.marketdata.models import RetentionPolicy
    from apps.marketdata.partitions import forget_partitions, partition_name
    from apps.markets.models import Interval, Starlisting
    from bench.backup_restore import fill

    minute_series = [s.id for s in common.ensure_starlistings(SERIES)]
    hour = Interval.objects.get(name="1h")
    hour_series = [
        Starlisting.objects.get_or_create(trading_pair_id=pair, interval=hour)[0].id
        for pair in Starlisting.objects.filter(id__in=minute_series).values_list("trading_pair_id", flat=True)
    ]
    name = partition_name("candles", MONTH)
    with connection.cursor() as cursor:
        cursor.execute(f'DROP TABLE IF EXISTS "{name}"')
    forget_partitions()
    fill(minute_series, options.minutes, MONTH)
    fill(hour_series, options.minutes // 60 or 1, MONTH)  # 1h candles share the partition (one a minute is enough)
    with connection.cursor() as cursor:
        cursor.execute(f'VACUUM ANALYZE "{name}"')
    rows = options.minutes * SERIES
    RetentionPolicy.objects.update_or_create(name="candles:1m", defaults={"keep_days": 365})
    cutoff = retention.horizon(365)

    before, _, _ = rate_for(minute_series, options.seconds)
    # The bench database holds other benches' old 1m candles (export's 2000, upsert's 2019): only this
    # bench's month is purged, through the same per-partition code the daily task runs.
    freed = []
    during, purge_seconds, latencies = rate_for(
        minute_series,
        None,
        during=lambda: freed.append(retention.purge_series("candles:1m", cutoff, partitions=[name])),
    )
    after, _, _ = rate_for(minute_series, options.seconds)
    alone = (before + after) / 2  # before and after the purge: a busy machine drifts during a long run
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT count(*) FROM "{name}" WHERE starlisting_id = ANY(%s)', [minute_series])
        left = cursor.fetchone()[0]
        cursor.execute(f'DROP TABLE IF EXISTS "{name}"')
    forget_partitions()
    if left or freed[0].rows != rows:
        raise SystemExit(f"purge left {left} rows, freed {freed[0].rows} of {rows}")
    p99 = latencies[int(len(latencies) * 0.99) - 1] if latencies else 0
    print(f"purged {rows} 1m candles in {purge_seconds:.2f} s (batches of {settings.KIRBY_RETENTION_BATCH_ROWS},"
          f" pause {settings.KIRBY_RETENTION_PAUSE_SECONDS} s); ingestion {before:.0f} / {after:.0f} rows/s alone"
          f" (before / after),"
          f" {during:.0f} rows/s during the purge (batch p99 {p99 * 1000:.1f} ms)")  # fmt: skip
    figure("retention_purge", "ingestion during the 1m purge", during, "rows/s", baseline=alone,
           baseline_name="ingestion alone", target=(">=", TARGET))  # fmt: skip
    figure("retention_purge", "purge", common.rate(rows, purge_seconds), "rows/s")


if __name__ == "__main__":
    main()
