"""``manage.py restore --backup ID --database NAME [--force]``: restore a backup into a PostgreSQL database.

The backup is looked up in the database's backup list, else read from the target's manifest (after the
database that held the list was lost).
"""

from django.core.management.base import BaseCommand, CommandError

from apps.operations.backups.postgres import BackupError
from apps.operations.backups.restore import from_target, restore
from apps.operations.models import Backup


class Command(BaseCommand):
    help = "Restore a backup into a database (created if missing) and check every table against its manifest."

    def add_arguments(self, parser):
        parser.add_argument("--backup", required=True, help="the backup id (see /api/status or the admin)")
        parser.add_argument("--database", required=True, help="name of the PostgreSQL database to restore into")
        parser.add_argument("--force", action="store_true", help="replace a database that already holds tables")

    def handle(self, *args, **options):
        try:
            backup = Backup.objects.filter(id=options["backup"]).first() or from_target(options["backup"])
            restore(backup, options["database"], force=options["force"])
        except BackupError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(f"restored {backup.id} into {options['database']}: every table matches the manifest")
