"""``manage.py export``: candles, funding, open interest or merged rows to CSV and/or Parquet files.

The Kirby 1.x command line: ``--coin`` (required), ``--intervals 1m,15m|all``,
``--days N`` or ``--start-time/--end-time`` (half-open ``[start, end)``, UTC),
``--exchange/--quote/--market-type`` when the coin alone is ambiguous,
``--format csv|parquet|both``, ``--output DIR``, ``--database
production|training``, ``--type candles|funding|open_interest|merged``.
"""

import sys
import time
from datetime import UTC, datetime, timedelta

from django.core.management.base import BaseCommand, CommandError

from apps.marketdata.export import spec
from apps.marketdata.export.formats import CSV, NUMBERS, PARQUET, ExportFailed
from apps.marketdata.export.resolve import SelectionError, find_intervals, find_pair, parse_intervals
from apps.marketdata.export.run import ExportRequest, export_files
from lib.databases import DatabaseUnavailable, database_alias
from lib.http.params import parse_time

FORMATS = {"csv": (CSV,), "parquet": (PARQUET,), "both": (CSV, PARQUET)}


def window_from_options(days, start_text, end_text, now=None):
    """(start, end) of the export: ``--days N`` back from now, or the given times; None means unbounded."""
    if days is not None and (start_text or end_text):
        raise CommandError("use either --days or --start-time/--end-time, not both")
    if days is not None:
        if not 0 < days <= 36500:
            raise CommandError(f"--days must be a positive number of days (at most 36500), got {days}")
        end = now or datetime.now(UTC)
        return end - timedelta(days=days), end
    bounds = []
    for option, text in (("--start-time", start_text), ("--end-time", end_text)):
        if text is None:
            bounds.append(None)
            continue
        try:
            bounds.append(parse_time(text))
        except ValueError as error:
            raise CommandError(f"{option} {text!r}: {error}") from None
    start, end = bounds
    if start is not None and end is not None and start >= end:
        raise CommandError("--end-time must be after --start-time (the window is [start, end))")
    return start, end


class ProgressBar:
    """One line per file on stderr, redrawn in place: rows written of the rows expected."""

    WIDTH = 30

    def __init__(self, stream):
        self.stream = stream

    def __call__(self, label, total):
        started = time.monotonic()

        def update(rows):
            share = min(1.0, rows / total) if total else 1.0
            filled = int(share * self.WIDTH)
            rate = rows / max(time.monotonic() - started, 1e-9)
            bar = "#" * filled + "." * (self.WIDTH - filled)
            self.stream.write(f"\r{label} [{bar}] {rows:,}/{total:,} rows ({rate:,.0f} rows/s)")
            if rows >= total:
                self.stream.write("\n")
            self.stream.flush()

        update(0)
        return update


class Command(BaseCommand):
    help = "Export market data to CSV and/or Parquet files, each with a JSON sidecar."

    def add_arguments(self, parser):
        parser.add_argument("--coin", required=True, help="coin symbol, e.g. BTC (case-insensitive)")
        parser.add_argument("--intervals", default="all", help="comma-separated intervals (1m,15m) or all")
        parser.add_argument("--days", type=int, default=None, help="the last N days up to now")
        parser.add_argument("--start-time", default=None, help="inclusive start, ISO-8601/date/epoch, UTC")
        parser.add_argument("--end-time", default=None, help="exclusive end, ISO-8601/date/epoch, UTC")
        parser.add_argument("--exchange", default=None)
        parser.add_argument("--quote", default=None)
        parser.add_argument("--market-type", default=None)
        parser.add_argument("--format", default="csv", choices=sorted(FORMATS))
        parser.add_argument("--output", default="exports", help="directory for the files (created if missing)")
        parser.add_argument("--database", default="production", choices=["production", "training"])
        parser.add_argument("--type", default=spec.CANDLES, choices=spec.TYPES)
        parser.add_argument(
            "--parquet-numbers", default="decimal", choices=NUMBERS, help="Parquet number columns (default decimal)"
        )

    def handle(self, *args, **options):
        try:
            using = database_alias(options["database"])
        except DatabaseUnavailable as error:
            raise CommandError(str(error)) from None
        start, end = window_from_options(options["days"], options["start_time"], options["end_time"])
        export_type = options["type"]
        try:
            pair = find_pair(using, options["coin"], options["exchange"], options["quote"], options["market_type"])
            intervals = []
            if export_type in spec.WITH_INTERVAL:
                intervals = find_intervals(using, pair, parse_intervals(options["intervals"]))
        except SelectionError as error:
            raise CommandError(str(error)) from None
        request = ExportRequest(
            export_type, using, pair, intervals, start, end, FORMATS[options["format"]], options["parquet_numbers"]
        )
        try:
            written = export_files(request, options["output"], progress_factory=ProgressBar(sys.stderr))
        except ExportFailed as error:
            raise CommandError(str(error)) from None
        for exported in written:
            self.stdout.write(f"  {exported.path} ({exported.rows:,} rows; sidecar {exported.sidecar.name})")
        self.stdout.write(self.style.SUCCESS(f"Exported {len(written)} file(s) to {options['output']}."))
