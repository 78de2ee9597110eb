"""``manage.py restore --backup ID --database NAME [--force]``: restore a backup into a PostgreSQL database.

The backup is looked up in the database's backup list, else read from the target's manifest (on a fresh
machine, or after the database that held the list was lost). ``manage.py restore --list`` prints the
backups whose manifest the target holds.
"""

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, connections

from apps.operations.backups.postgres import BackupError
from apps.operations.backups.restore import from_target, on_target, restore
from apps.operations.models import Backup


class Command(BaseCommand):
    help = "Restore a backup into a database (created if missing) and check every table against its manifest."

    def add_arguments(self, parser):
        parser.add_argument("--backup", help="the backup id (see /api/status, the admin or --list)")
        parser.add_argument("--database", help="name of the PostgreSQL database to restore into")
        parser.add_argument("--force", action="store_true", help="replace a database that already holds tables")
        parser.add_argument("--list", action="store_true", help="list the backups the target holds, newest first")

    def handle(self, *args, **options):
        try:
            if options["list"]:
                for backup_id in on_target():
                    self.stdout.write(backup_id)
                return
            if not options["backup"] or not options["database"]:
                raise CommandError("--backup and --database are required (or --list)")
            backup = self._known(options["backup"]) or from_target(options["backup"])
            # This command's own connection would count as a session using the database it replaces.
            connections.close_all()
            restore(backup, options["database"], force=options["force"])
        except BackupError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(f"restored {backup.id} into {options['database']}: every table matches the manifest")

    def _known(self, backup_id):
        try:
            return Backup.objects.filter(id=backup_id).first()
        except DatabaseError:  # no database yet (a fresh machine): the target's manifest is the record
            return None
