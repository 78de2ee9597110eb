"""Copy a Kirby 1.x database into Kirby; safe to run again (what is there is not duplicated)."""

import sys

import psycopg
from django.core.management.base import BaseCommand, CommandError
from psycopg import sql

from apps.access.v1import import import_users_and_keys
from apps.marketdata.v1import.reference import TableCount, import_reference
from apps.marketdata.v1import.series import SOURCES, TRAINING_TABLES, import_series
from lib.databases import DatabaseUnavailable, database_alias

READ_ONE_SNAPSHOT = "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"


class Command(BaseCommand):
    help = (
        "Import a Kirby 1.x database (reference rows, candles, funding, open interest, users, API keys) "
        "and verify every series."
    )

    def add_arguments(self, parser):
        parser.add_argument("--source", required=True, help="The 1.x database, postgres://user@host:port/name")
        parser.add_argument(
            "--database",
            default="production",
            help="production (default) or training: a 1.x training database goes into Kirby's (candles only)",
        )
        parser.add_argument("--quiet-progress", action="store_true", help="No per-batch progress lines")

    def handle(self, *args, source, database, quiet_progress, **options):
        try:
            using = database_alias(database)
        except DatabaseUnavailable as error:
            raise CommandError(str(error)) from None
        try:
            connection = psycopg.connect(source, autocommit=False)
        except psycopg.Error as error:
            raise CommandError(f"cannot connect to the 1.x database: {error}") from None

        def progress(message):
            if not quiet_progress:
                self.stderr.write(message)

        with connection:
            # One snapshot for the whole read: rows 1.x writes meanwhile are left for the next run.
            connection.execute(READ_ONE_SNAPSHOT)
            # A second reader of the same snapshot verifies one series while the next is copied.
            checker = _second_reader(connection, source)
            connection.execute("SET TIME ZONE 'UTC'")
            connection.execute("SET DateStyle = 'ISO'")  # the rows leave as COPY text, in the form COPY reads
            try:
                maps, counts = import_reference(connection, using=using)
                tables = TRAINING_TABLES if using == "training" else tuple(SOURCES)
                checks = []
                for table in tables:
                    counts[table] = TableCount()
                    checks += import_series(
                        connection, table, maps, counts, using=using, progress=progress, checker=checker
                    )
                if using != "training":
                    counts.update(import_users_and_keys(connection))
            finally:
                if checker is not None:
                    checker.close()
        self._report(counts, checks)

    def _report(self, counts, checks):
        write = self.stdout.write
        write(f"{'table':<18} {'read':>10} {'written':>10} {'rejected':>10}")
        for table, count in counts.items():
            write(f"{table:<18} {count.read:>10} {count.written:>10} {count.rejected:>10}")
            for reason, number in count.reasons.items():
                write(f"    {number} x {reason}")
        write("verification (rows Kirby accepts on the 1.x side against Kirby's rows over the same span):")
        for check in checks:
            verdict = "ok" if check.ok else "MISMATCH"
            write(
                f"  {check.table} 1.x {check.source_id} -> Kirby {check.kirby_id}: {verdict}"
                f" rows {check.source_rows}/{check.kirby_rows} checksum {check.source_sum:x}/{check.kirby_sum:x}"
            )
        failed = [c for c in checks if not c.ok]
        if failed:
            raise CommandError(f"{len(failed)} of {len(checks)} series did not verify")
        write(f"All {len(checks)} series verified.")
        sys.stdout.flush()


def _second_reader(connection, source):
    """A second connection to 1.x reading ``connection``'s snapshot (for the verification), or None.

    Called first in ``connection``'s transaction: a server that cannot export its snapshot aborts that
    transaction, which is then begun again as it was.
    """
    try:
        snapshot = connection.execute("SELECT pg_export_snapshot()").fetchone()[0]
    except psycopg.Error:
        connection.rollback()
        connection.execute(READ_ONE_SNAPSHOT)
        return None
    try:
        checker = psycopg.connect(source, autocommit=False)
        checker.execute(READ_ONE_SNAPSHOT)
        checker.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(snapshot)))
        checker.execute("SET TIME ZONE 'UTC'")
    except psycopg.Error:
        return None
    return checker
