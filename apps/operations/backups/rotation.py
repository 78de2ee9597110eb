"""Grandfather-father-son rotation: the newest backup of each of the last N days, weeks and months is kept.

Failed backups are removed with their pieces; a piece goes only when no kept
backup references it (sealed partitions are shared by many backups). The
``backups`` retention policy, when not forever, also removes kept backups
older than its horizon.
"""

from django.conf import settings
from django.utils import timezone

from apps.marketdata import retention
from apps.operations.backups.dump import manifest_name
from apps.operations.backups.targets import target_from
from apps.operations.models import Backup


def gfs_keep(moments, daily, weekly, monthly):
    """The subset of ``moments`` (datetimes of done backups) that GFS keeps."""
    newest_first = sorted(moments, reverse=True)
    kept = set()
    for period, count in ((lambda m: m.date(), daily), (lambda m: m.isocalendar()[:2], weekly),
                          (lambda m: (m.year, m.month), monthly)):  # fmt: skip
        seen = []
        for moment in newest_first:
            key = period(moment)
            if key not in seen:
                if len(seen) == count:
                    break
                seen.append(key)
                kept.add(moment)
    return kept


def rotate(database, target=None, now=None):
    """Apply the rotation to one database's backups; the ids removed."""
    target = target or target_from()
    backups = list(Backup.objects.filter(database=database, target=target.url).exclude(status=Backup.RUNNING))
    done = [b for b in backups if b.status == Backup.DONE]
    keep_moments = gfs_keep([b.created_at for b in done], settings.KIRBY_BACKUP_KEEP_DAILY,
                            settings.KIRBY_BACKUP_KEEP_WEEKLY, settings.KIRBY_BACKUP_KEEP_MONTHLY)  # fmt: skip
    cutoff = retention.horizons(now or timezone.now())["backups"]
    kept = [b for b in done if b.created_at in keep_moments and (cutoff is None or b.created_at >= cutoff)]
    if done and not kept:
        kept = [max(done, key=lambda b: b.created_at)]  # never remove the last good backup
    # Pieces of running backups are not in any manifest yet: they are never collected here.
    running = Backup.objects.filter(database=database, target=target.url, status=Backup.RUNNING)
    referenced = {piece["name"] for b in kept for piece in b.manifest.get("pieces", [])}
    removed = [b for b in backups if b not in kept]
    for backup in removed:
        target.delete(manifest_name(backup.id))
        backup.delete()
    if not running.exists():
        for name in target.names(f"pieces/{database}/"):
            if name not in referenced:
                target.delete(name)
    return [b.id for b in removed]
