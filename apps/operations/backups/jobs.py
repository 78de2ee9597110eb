"""The scheduled work: back up every configured database and rotate; verify the newest backup by a restore."""

import logging

from django.conf import settings

from apps.operations.backups.dump import take_backup
from apps.operations.backups.restore import verify
from apps.operations.backups.rotation import rotate
from apps.operations.backups.targets import TargetError, target_from
from apps.operations.models import Backup

log = logging.getLogger(__name__)


def back_up_all(aliases=None, target=None):
    """A backup of each database (default: KIRBY_BACKUP_DATABASES that are configured), then the rotation."""
    target = target or target_from()
    aliases = aliases or [a for a in settings.KIRBY_BACKUP_DATABASES if a in settings.DATABASES]
    backups = []
    for alias in aliases:
        backup = take_backup(alias, target)
        backups.append(backup)
        if backup.status == Backup.DONE:  # a failed run leaves everything before it untouched
            try:
                rotate(alias, target)
            except (TargetError, OSError) as error:  # the backup stands; what rotation left is removed next time
                log.error("rotation of %s backups failed: %s", alias, error)
    return backups


def verify_newest(target=None):
    """Restore-check the newest done backup of each database; {alias: passed}."""
    results = {}
    for alias in {b for b in Backup.objects.filter(status=Backup.DONE).values_list("database", flat=True)}:
        newest = Backup.objects.filter(database=alias, status=Backup.DONE).order_by("-created_at").first()
        results[alias] = verify(newest, target)
        if not results[alias]:
            log.error("restore check of backup %s failed: %s", newest.id, Backup.objects.get(id=newest.id).error)
    return results
