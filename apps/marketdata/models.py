"""Time-series tables.

Each table is range-partitioned by month on ``time`` (see partitions.py and
migration 0001), keyed by (series, time), and written only through
``apps.marketdata.writer``. All times are UTC; a candle's ``time`` is its
open time.
"""

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
