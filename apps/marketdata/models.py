"""Time-series tables.

Each table is range-partitioned by month on ``time`` (see partitions.py and
migration 0001), keyed by (series, time), and written only through
``apps.marketdata.writer``. All times are UTC; a candle's ``time`` is its
open time.
"""

import uuid

from django.contrib.postgres.fields import ArrayField
from django.db import models

from apps.marketdata.fields import ExactDecimalField, StatementTimestamp
from apps.markets.models import Starlisting, TradingPair


class Candle(models.Model):
    pk = models.CompositePrimaryKey("starlisting_id", "time")
    starlisting = models.ForeignKey(Starlisting, on_delete=models.PROTECT, related_name="+", db_constraint=False)
    time = models.DateTimeField(help_text="Open time, UTC")
    open = ExactDecimalField()
    high = ExactDecimalField()
    low = ExactDecimalField()
    close = ExactDecimalField()
    volume = ExactDecimalField()
    num_trades = models.BigIntegerField(null=True)
    closed = models.BooleanField(default=False, help_text="True once the candle's interval has ended")
    ingested_at = models.DateTimeField(
        db_default=StatementTimestamp(), editable=False, help_text="When Kirby first stored the row"
    )

    class Meta:
        db_table = "candles"

    def __str__(self):
        return f"candle {self.starlisting_id} @ {self.time:%Y-%m-%dT%H:%M:%SZ}"


class FundingRate(models.Model):
    pk = models.CompositePrimaryKey("trading_pair_id", "time")
    trading_pair = models.ForeignKey(TradingPair, on_delete=models.PROTECT, related_name="+", db_constraint=False)
    time = models.DateTimeField()
    funding_rate = ExactDecimalField()
    premium = ExactDecimalField(null=True)
    mark_price = ExactDecimalField(null=True)
    index_price = ExactDecimalField(null=True)
    oracle_price = ExactDecimalField(null=True)
    mid_price = ExactDecimalField(null=True)
    next_funding_time = models.DateTimeField(null=True)
    ingested_at = models.DateTimeField(
        db_default=StatementTimestamp(), editable=False, help_text="When Kirby first stored the row"
    )

    class Meta:
        db_table = "funding_rates"

    def __str__(self):
        return f"funding {self.trading_pair_id} @ {self.time:%Y-%m-%dT%H:%M:%SZ}"


class OpenInterest(models.Model):
    pk = models.CompositePrimaryKey("trading_pair_id", "time")
    trading_pair = models.ForeignKey(TradingPair, on_delete=models.PROTECT, related_name="+", db_constraint=False)
    time = models.DateTimeField()
    open_interest = ExactDecimalField()
    notional_value = ExactDecimalField(null=True)
    day_base_volume = ExactDecimalField(null=True)
    day_notional_volume = ExactDecimalField(null=True)
    ingested_at = models.DateTimeField(
        db_default=StatementTimestamp(), editable=False, help_text="When Kirby first stored the row"
    )

    class Meta:
        db_table = "open_interest"
        verbose_name_plural = "open interest"

    def __str__(self):
        return f"open interest {self.trading_pair_id} @ {self.time:%Y-%m-%dT%H:%M:%SZ}"


class ExportJob(models.Model):
    """A large export run by a worker (``run_export_job``); files are fetched through expiring signed links.

    The window is half-open ``[start_time, end_time)`` (UTC), like every read.
    Reads the production database.
    """

    QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
    STATUSES = [(s, s) for s in (QUEUED, RUNNING, DONE, FAILED)]

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    export_type = models.CharField(max_length=20)
    exchange = models.CharField(max_length=50)
    coin = models.CharField(max_length=50)
    quote = models.CharField(max_length=20)
    market_type = models.CharField(max_length=20)
    interval = models.CharField(max_length=10, blank=True)
    format = models.CharField(max_length=10, help_text="csv, parquet or both")
    numbers = models.CharField(max_length=10, default="decimal", help_text="Parquet numbers: decimal or float64")
    start_time = models.DateTimeField(null=True)
    end_time = models.DateTimeField(null=True)
    status = models.CharField(max_length=10, choices=STATUSES, default=QUEUED)
    rows = models.BigIntegerField(default=0)
    files = models.JSONField(default=list, help_text="[{name, format, rows, size, sidecar}]")
    error = models.TextField(blank=True)
    # The API key that queued the job: only it (and admins) may read the job. A plain id, not a
    # foreign key: keys belong to apps.access, a layer above market data.
    created_by_key_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True)

    class Meta:
        db_table = "export_jobs"
        ordering = ["-created_at"]

    def __str__(self):
        return f"export {self.id} ({self.status})"


class DeadLetter(models.Model):
    """A row the write path could not store (out of bounds, or refused by the database), kept for an operator.

    Its batch was stored without it. ``payload`` is the record as JSON text
    (apps.marketdata.record_json), exactly as received.
    """

    record_type = models.CharField(max_length=20, help_text="candles, funding or open_interest")
    exchange = models.CharField(max_length=50, blank=True)
    payload = models.TextField(help_text="The record as JSON, decimals as strings")
    reason = models.TextField()
    time = models.DateTimeField(auto_now_add=True, db_index=True, help_text="When the row was set aside, UTC")

    class Meta:
        db_table = "dead_letters"
        ordering = ["-time"]

    def __str__(self):
        return f"dead {self.record_type} row @ {self.time:%Y-%m-%dT%H:%M:%SZ}"


class RetentionPolicy(models.Model):
    """How long one kind of data is kept (``keep_days`` empty: forever), and what its last enforcement freed.

    Names: ``candles:<interval>``, ``funding``, ``open_interest``, ``trades``,
    ``orderbook``, ``api_usage``, ``export_files``, ``backups``. Rows are created with the defaults of
    KIRBY_RETENTION_DAYS (apps.marketdata.retention) the first time a policy is
    read; an operator edits them in the admin.
    """

    name = models.CharField(max_length=40, unique=True)
    keep_days = models.FloatField(null=True, blank=True, help_text="Days kept; empty keeps everything forever")
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_rows_freed = models.BigIntegerField(default=0)
    last_bytes_freed = models.BigIntegerField(default=0, help_text="Estimated for batched deletes")
    last_partitions_dropped = models.IntegerField(default=0)
    last_error = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "retention_policies"
        ordering = ["name"]
        verbose_name_plural = "retention policies"

    def __str__(self):
        return f"{self.name}: {'forever' if self.keep_days is None else f'{self.keep_days:g} days'}"


class Trade(models.Model):
    """One trade as the venue published it; range-partitioned by day (migration 0007)."""

    # The venue's id alone is the identity; ``time`` is in the key because PostgreSQL's unique
    # constraints on a partitioned table must include the partition column (a replay carries the same time).
    pk = models.CompositePrimaryKey("trading_pair_id", "time", "trade_id")
    trading_pair = models.ForeignKey(TradingPair, on_delete=models.PROTECT, related_name="+", db_constraint=False)
    time = models.DateTimeField(help_text="When the venue matched the trade, UTC")
    trade_id = models.TextField(help_text="The venue's id of the trade")
    price = ExactDecimalField()
    size = ExactDecimalField()
    side = models.TextField(help_text="The taker's side: buy or sell")
    ingested_at = models.DateTimeField(
        db_default=StatementTimestamp(), editable=False, help_text="When Kirby first stored the row"
    )

    class Meta:
        db_table = "trades"

    def __str__(self):
        return f"trade {self.trading_pair_id} {self.trade_id} @ {self.time:%Y-%m-%dT%H:%M:%S.%fZ}"


class OrderBookSnapshot(models.Model):
    """The top of a pair's book at one moment; range-partitioned by day (migration 0007)."""

    pk = models.CompositePrimaryKey("trading_pair_id", "time")
    trading_pair = models.ForeignKey(TradingPair, on_delete=models.PROTECT, related_name="+", db_constraint=False)
    time = models.DateTimeField(help_text="Venue time of the last update in the book, UTC")
    sequence = models.BigIntegerField(null=True)
    bids = ArrayField(ArrayField(ExactDecimalField()), help_text="[price, size] pairs, best first")
    asks = ArrayField(ArrayField(ExactDecimalField()), help_text="[price, size] pairs, best first")
    ingested_at = models.DateTimeField(
        db_default=StatementTimestamp(), editable=False, help_text="When Kirby first stored the row"
    )

    class Meta:
        db_table = "orderbook_snapshots"

    def __str__(self):
        return f"order book {self.trading_pair_id} @ {self.time:%Y-%m-%dT%H:%M:%S.%fZ}"
