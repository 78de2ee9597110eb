"""``manage.py backup [--database NAME]``: back up now (every KIRBY_BACKUP_DATABASES by default), then rotate."""

from django.core.management.base import BaseCommand, CommandError

from apps.operations.backups.jobs import back_up_all
from apps.operations.models import Backup
from lib.databases import DatabaseUnavailable, database_alias


class Command(BaseCommand):
    help = "Take a backup of the production (and training) database and apply the rotation."

    def add_arguments(self, parser):
        parser.add_argument("--database", help="production or training (default: KIRBY_BACKUP_DATABASES)")

    def handle(self, *args, **options):
        try:
            aliases = [database_alias(options["database"])] if options["database"] else None
        except DatabaseUnavailable as error:
            raise CommandError(f"--database: {error}") from None
        backups = back_up_all(aliases)
        for backup in backups:
            if backup.status == Backup.DONE:
                reused = sum(1 for p in backup.manifest["pieces"] if p["reused"])
                self.stdout.write(f"backup {backup.id}: {len(backup.manifest['pieces'])} pieces ({reused} reused),"
                                  f" {backup.written} bytes written, {backup.size} bytes in all")  # fmt: skip
        failed = [b for b in backups if b.status != Backup.DONE]
        if failed:
            raise CommandError("; ".join(f"backup {b.id} failed: {b.error}" for b in failed))
