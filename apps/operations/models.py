"""Backups (apps.operations.backups): one row per run, with its manifest."""

from django.db import models


class Backup(models.Model):
    """One backup of one database: its pieces are in the target, listed by ``manifest``.

    Only a ``done`` backup is restorable: a run that fails (or whose restore
    check fails) is marked ``failed`` and never offered for a restore.
    """

    RUNNING, DONE, FAILED = "running", "done", "failed"
    STATUSES = [(s, s) for s in (RUNNING, DONE, FAILED)]

    id = models.CharField(max_length=80, primary_key=True)
    database = models.CharField(max_length=50, help_text="Django alias: default or training")
    target = models.CharField(max_length=500)
    status = models.CharField(max_length=10, choices=STATUSES, default=RUNNING, db_index=True)
    created_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    size = models.BigIntegerField(default=0, help_text="Bytes of every piece the backup references")
    written = models.BigIntegerField(default=0, help_text="Bytes this run wrote (the rest is reused)")
    error = models.TextField(blank=True)
    verified_at = models.DateTimeField(null=True, blank=True, help_text="When a restore check last passed")
    manifest = models.JSONField(default=dict)

    class Meta:
        db_table = "backups"
        ordering = ["-created_at"]

    def __str__(self):
        return f"backup {self.id} ({self.status})"
