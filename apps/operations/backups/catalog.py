"""What the status document, /metrics and the alert know about backups."""

from django.conf import settings

from apps.operations.models import Backup
from lib.metrics import set_backup_age, set_backup_failed


def refresh_backup_age(now):
    """Set the backup gauges from the newest verified and the newest finished backup (/metrics calls it per scrape)."""
    verified = Backup.objects.filter(status=Backup.DONE, verified_at__isnull=False).order_by("-created_at").first()
    age = None if verified is None else max(0.0, now - verified.created_at.timestamp())
    set_backup_age(age)
    set_backup_failed(bool(newest_failures()))
    return verified, age


def newest_failures():
    """The failed backups that are the newest finished run of their database, newest first: a good training
    backup after a failed production one does not hide the failure."""
    newest = (
        Backup.objects.exclude(status=Backup.RUNNING).order_by("database", "-created_at").distinct("database")
    )  # fmt: skip
    return sorted((b for b in newest if b.status == Backup.FAILED), key=lambda b: b.created_at, reverse=True)


def backup_summary(now):
    """The newest backups, the newest verified one and its age (seconds, None before the first)."""
    recent = list(Backup.objects.order_by("-created_at")[:5])
    verified, age = refresh_backup_age(now)
    # Amber while the newest finished run (or its check) of any database failed; a later good run clears it.
    failures = newest_failures()
    failed = failures[0] if failures else None
    return {
        "target": settings.KIRBY_BACKUP_TARGET,  # credentials come from the environment, never from this URL
        "newest_verified": None if verified is None else verified.id,
        "newest_verified_age_seconds": None if age is None else round(age, 1),
        "verified_max_age_seconds": settings.KIRBY_BACKUP_VERIFY_SECONDS + 86400,
        "last_failed": None if failed is None else {"id": failed.id, "error": failed.error},
        "recent": [
            {
                "id": b.id,
                "database": b.database,
                "status": b.status,
                "created_at": b.created_at,
                "size": b.size,
                "written": b.written,
                "verified_at": b.verified_at,
                "error": b.error or None,
            }
            for b in recent
        ],  # fmt: skip
    }
