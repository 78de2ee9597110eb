"""``manage.py retention [--dry-run]``: enforce every retention policy now, or show what would go."""

from django.core.management.base import BaseCommand

from apps.operations.retention import enforce


def _iso(moment):
    return "-" if moment is None else f"{moment:%Y-%m-%dT%H:%M:%SZ}"


class Command(BaseCommand):
    help = "Remove data past each retention policy's horizon (with --dry-run: print what would go, change nothing)."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="print per policy what would go; change nothing")

    def handle(self, *args, **options):
        dry_run = options["dry_run"]
        verb = "would free" if dry_run else "freed"
        for policy, cutoff, freed, error in enforce(dry_run=dry_run):
            if cutoff is None:
                self.stdout.write(f"{policy.name}: kept forever")
            elif error:
                self.stdout.write(f"{policy.name}: failed: {error}")
            elif freed is None:
                self.stdout.write(f"{policy.name}: before {_iso(cutoff)}: applied by the backup rotation")
            else:
                dropped = f", {len(freed.partitions)} whole partitions" if freed.partitions else ""
                self.stdout.write(
                    f"{policy.name}: before {_iso(cutoff)}: {verb} {freed.rows} rows, {freed.bytes} bytes{dropped}"
                    f" (oldest {_iso(freed.oldest)}, newest {_iso(freed.newest)})"
                )
