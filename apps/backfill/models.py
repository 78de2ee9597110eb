"""Backfill jobs and the gap ledger.

A BackfillJob reads one series' history from the exchange's REST API for a
half-open UTC window ``[start_time, end_time)`` and stores it through the
one write path. ``checkpoint`` is the time up to which the window is done
(committed together with the rows), so a job cut short by a crash resumes
there. A Gap is a range of a series that Kirby found missing, why, and
whether it was repaired (Kirby now holds everything the exchange has there)
or is unrecoverable (the exchange has no history for it).
"""

from django.db import models

from apps.markets.models import Starlisting, TradingPair


class DataType(models.TextChoices):
    CANDLES = "candles"
    FUNDING = "funding"
    OPEN_INTEREST = "open_interest"


class BackfillJob(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELLED = "cancelled"

    class Source(models.TextChoices):
        ADMIN = "admin"
        API = "api"
        CLI = "cli"
        NEW_SERIES = "new_series", "new starlisting or trading pair"
        GAP = "gap", "gap repair"

    ACTIVE = (Status.QUEUED, Status.RUNNING)

    data_type = models.CharField(max_length=20, choices=DataType.choices)
    starlisting = models.ForeignKey(Starlisting, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    trading_pair = models.ForeignKey(TradingPair, on_delete=models.CASCADE, related_name="+")
    database = models.CharField(max_length=50, default="default", help_text="Database alias the rows go to")
    start_time = models.DateTimeField(help_text="Inclusive, UTC")
    end_time = models.DateTimeField(help_text="Exclusive, UTC")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED, db_index=True)
    source = models.CharField(max_length=20, choices=Source.choices, default=Source.API)
    checkpoint = models.DateTimeField(null=True, blank=True, help_text="[start_time, checkpoint) is done")
    rows_written = models.BigIntegerField(default=0, help_text="Rows inserted or changed")
    pages = models.IntegerField(default=0)
    attempts = models.IntegerField(default=0, help_text="Runs started (a resumed or retried job runs again)")
    rate_limited = models.IntegerField(default=0, help_text="Answers of 429 Too Many Requests")
    last_error = models.TextField(blank=True)
    available_from = models.DateTimeField(
        null=True, blank=True, help_text="The earliest time the exchange had data for, when later than start_time"
    )
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "backfill_jobs"
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(start_time__lt=models.F("end_time")), name="backfill_window"),
            models.CheckConstraint(
                condition=~models.Q(data_type="candles") | models.Q(starlisting__isnull=False),
                name="backfill_candles_need_a_starlisting",
            ),
        ]

    def __str__(self):
        return f"backfill #{self.id} {self.data_type} {self.start_time:%Y-%m-%d %H:%M}..{self.end_time:%Y-%m-%d %H:%M}"

    @property
    def progress(self):
        """Share of the window done, 0..1."""
        if self.status == self.Status.SUCCEEDED:
            return 1.0
        if self.checkpoint is None:
            return 0.0
        done = (self.checkpoint - self.start_time) / (self.end_time - self.start_time)
        return round(min(1.0, max(0.0, done)), 4)


class Gap(models.Model):
    class Reason(models.TextChoices):
        DOWNTIME = "downtime"
        EXCHANGE_OUTAGE = "exchange_outage"
        NEVER_COLLECTED = "never_collected"

    class Status(models.TextChoices):
        OPEN = "open"
        REPAIRED = "repaired"
        UNRECOVERABLE = "unrecoverable"

    data_type = models.CharField(max_length=20, choices=DataType.choices)
    starlisting = models.ForeignKey(Starlisting, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    trading_pair = models.ForeignKey(TradingPair, on_delete=models.CASCADE, related_name="+")
    start_time = models.DateTimeField(help_text="First missing slot, UTC")
    end_time = models.DateTimeField(help_text="Exclusive end, UTC")
    missing = models.IntegerField(help_text="Slots missing when found")
    reason = models.CharField(max_length=20, choices=Reason.choices)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.OPEN, db_index=True)
    found_at = models.DateTimeField(auto_now_add=True)
    repaired_at = models.DateTimeField(null=True, blank=True)
    detail = models.TextField(blank=True)
    job = models.ForeignKey(BackfillJob, null=True, blank=True, on_delete=models.SET_NULL, related_name="gaps")
    repair_attempts = models.IntegerField(default=0)

    class Meta:
        db_table = "gaps"
        ordering = ["-start_time", "-id"]
        indexes = [models.Index(fields=["trading_pair", "data_type", "start_time"], name="gaps_series_time")]
        constraints = [
            models.CheckConstraint(condition=models.Q(start_time__lt=models.F("end_time")), name="gap_window"),
        ]

    def __str__(self):
        return f"{self.data_type} gap {self.start_time:%Y-%m-%d %H:%M}..{self.end_time:%Y-%m-%d %H:%M} ({self.status})"
