"""``manage.py backfill``: fetch a series' history, in the foreground (default) or on a worker.

    manage.py backfill --coin BTC [--exchange hyperliquid --quote USD --market-type perps]
        [--interval 1m[,1h...] | --funding] (--days N | --start-time T [--end-time T]) [--background]
        [--database production|training]
    manage.py backfill --all [--exchange NAME] (--days N | ...)   # every active starlisting, as Kirby 1.x

Without ``--interval`` every starlisting of the pair is backfilled. In the
foreground no worker is needed: a progress bar is drawn per job and a
summary printed at the end. A bad argument stops with one line naming it.
"""

import sys
import time
import types
from datetime import UTC, datetime

from django.core.management.base import BaseCommand, CommandError

from apps.backfill import jobs
from apps.backfill.models import BackfillJob
from apps.backfill.runner import run_job
from apps.marketdata import queries
from apps.marketdata.queries import Unresolved as Invalid
from apps.markets.models import Starlisting
from lib.databases import DatabaseUnavailable, database_alias
from lib.http.params import parse_time

BAR = 30


def _one_line_error(parser, message):
    """argparse prints the whole usage on an error; one line naming the problem is clearer."""
    if parser.called_from_command_line:
        sys.stderr.write(f"{parser.prog}: error: {message} (see --help)\n")
        sys.exit(2)
    raise CommandError(message)


class Command(BaseCommand):
    help = "Backfill candles (and/or funding) of one trading pair from the exchange's REST history."

    def create_parser(self, prog_name, subcommand, **kwargs):
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.error = types.MethodType(_one_line_error, parser)
        return parser

    def add_arguments(self, parser):
        parser.add_argument("--exchange", help="default hyperliquid; with --all, a filter")
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument("--coin")
        target.add_argument("--all", action="store_true", help="candles of every active starlisting (Kirby 1.x)")
        parser.add_argument("--quote", default="USD")
        parser.add_argument("--market-type", default="perps")
        parser.add_argument("--interval", help="comma-separated intervals (default: every starlisting of the pair)")
        parser.add_argument("--funding", action="store_true", help="backfill funding rates (alone or with --interval)")
        parser.add_argument(
            "--refill-purged", action="store_true", help="also fetch history before the retention horizon"
        )
        window = parser.add_mutually_exclusive_group()
        window.add_argument("--days", type=int, help="the last N days (default KIRBY_BACKFILL_DAYS)")
        window.add_argument("--start-time", help="inclusive start: ISO-8601, a date, or epoch s/ms (UTC)")
        parser.add_argument("--end-time", help="exclusive end (default: now)")
        parser.add_argument("--background", action="store_true", help="queue on the backfill workers and return")
        parser.add_argument("--database", default="production", help="production (default) or training")

    def handle(self, *args, **options):
        try:
            self.using = database_alias(options["database"])
        except DatabaseUnavailable as error:
            raise CommandError(f"--database: {error}") from None
        try:
            start, end = self._window(options)
            plan = self._plan(options)
        except Invalid as error:
            raise CommandError(f"--{error.field.replace('_', '-')}: {str(error).split(': ', 1)[1]}") from None
        created = [
            jobs.create_job(data_type, starlisting_id=sid, trading_pair_id=pair_id, start=start, end=end,
                            source=BackfillJob.Source.CLI, database=self.using, queue=options["background"],
                            refill_purged=options["refill_purged"])
            for data_type, sid, pair_id, _ in plan
        ]  # fmt: skip
        for job, (_, _, _, label) in zip(created, plan):
            if job is None:
                self.stdout.write(f"skipped {label}: the window lies before its retention horizon (--refill-purged)")
        plan = [entry for job, entry in zip(created, plan) if job is not None]
        created = [job for job in created if job is not None]
        if options["background"]:
            for job, (_, _, _, label) in zip(created, plan):
                self.stdout.write(f"queued backfill #{job.id}: {label} [{_iso(start)}, {_iso(end)})")
            return
        results = [self._run(job, label) for job, (_, _, _, label) in zip(created, plan)]
        failed = [job for job in results if job.status != BackfillJob.Status.SUCCEEDED]
        if failed:
            raise CommandError(f"{len(failed)} of {len(results)} backfill job(s) did not succeed")

    def _window(self, options):
        now = datetime.now(UTC)
        end = now
        if options["end_time"]:
            end = _time("end_time", options["end_time"])
        if options["start_time"]:
            start = _time("start_time", options["start_time"])
        else:
            days = options["days"]
            if days is not None and not 1 <= days <= 3650:
                raise Invalid("days", "must be between 1 and 3650")
            start = jobs.default_window(days, now=end)[0]
        if start >= end:
            raise Invalid("end_time", "must be after the start (the window is [start, end))")
        return start, end

    def _plan(self, options):
        """[(data_type, starlisting id, trading pair id, label)]."""
        if options["all"]:
            return self._plan_all(options)
        names = (options["exchange"] or "hyperliquid", options["coin"], options["quote"], options["market_type"])
        pair = queries.resolve_trading_pair(*names, using=self.using)
        pair_id, path = pair[0], queries.pair_path(pair[2])
        plan = []
        if options["interval"]:
            for interval in options["interval"].split(","):
                starlisting_id = queries.resolve_starlisting(pair, interval.strip(), using=self.using)[0]
                plan.append(("candles", starlisting_id, pair_id, f"{path}/{interval.strip()}"))
        elif not options["funding"]:
            starlistings = Starlisting.objects.using(self.using).filter(trading_pair_id=pair_id)
            for sid, interval in starlistings.values_list("id", "interval__name"):
                plan.append(("candles", sid, pair_id, f"{path}/{interval}"))
            if not plan:
                raise Invalid("interval", f"{path} has no starlistings")
        if options["funding"]:
            plan.append(("funding", None, pair_id, f"{path} funding"))
        return plan

    def _plan_all(self, options):
        if options["interval"] or options["funding"]:
            raise Invalid("all", "backfills the candles of every active starlisting: no --interval or --funding")
        query = Starlisting.objects.using(self.using).filter(active=True, trading_pair__active=True)
        if options["exchange"]:
            query = query.filter(trading_pair__exchange__name=options["exchange"])
        plan = [
            ("candles", star.id, star.trading_pair_id, str(star))
            for star in query.select_related(
                "interval", "trading_pair__exchange", "trading_pair__coin", "trading_pair__quote",
                "trading_pair__market_type",
            ).order_by("id")
        ]  # fmt: skip
        if not plan:
            raise Invalid("all", "there are no active starlistings")
        return plan

    def _run(self, job, label):
        started = time.monotonic()
        self._progress(label, job)
        result = run_job(job.id, self.using, on_page=lambda j: self._progress(label, j))
        job.refresh_from_db()
        if result is None and job.status in BackfillJob.ACTIVE:
            self.stdout.write(f"\n{label}: job #{job.id} is running elsewhere; see GET /backfills/{job.id}")
            return job
        self._progress(label, job, final=True)
        seconds = time.monotonic() - started
        summary = (
            f"{label}: {job.status}: {job.rows_written} rows written from {job.pages} pages in {seconds:.1f} s"
            f" (job #{job.id}, {job.attempts} attempt(s), {job.rate_limited} rate-limited)"
        )
        if job.note:
            summary += f"; note: {job.note}"
        style = self.style.SUCCESS if job.status == BackfillJob.Status.SUCCEEDED else self.style.ERROR
        self.stdout.write(style(summary))
        return job

    def _progress(self, label, job, final=False):
        """A bar redrawn in place on a terminal; elsewhere (logs, pipes) one line per tenth done."""
        tenth = int(job.progress * 10)
        if not self.stdout.isatty() and not final and tenth == getattr(self, "_tenth", None):
            return
        self._tenth = tenth
        filled = int(job.progress * BAR)
        line = (
            f"{label} [{'#' * filled}{'-' * (BAR - filled)}] {job.progress * 100:5.1f}%"
            f"  {job.rows_written} rows  {job.pages} pages"
        )
        if self.stdout.isatty():
            self.stdout.write(f"\r{line}", ending="\n" if final else "")
        else:
            self.stdout.write(line)
        self.stdout.flush()


def _time(field, raw):
    try:
        return parse_time(raw)
    except ValueError as error:
        raise Invalid(field, str(error)) from None


def _iso(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
