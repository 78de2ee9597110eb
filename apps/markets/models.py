"""Reference data: what Kirby collects.

A trading pair is exchange + coin + quote + market type; a starlisting is a
trading pair at one candle interval. A starlisting stores only its trading
pair and interval, so it cannot disagree with its pair about the exchange,
coin, quote or market type.
"""

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.functions import Lower


class Exchange(models.Model):
    name = models.CharField(max_length=50, unique=True, help_text="Identifier used in URLs, e.g. hyperliquid")
    display_name = models.CharField(max_length=100)
    active = models.BooleanField(default=True)

    class Meta:
        db_table = "exchanges"
        ordering = ["name"]

    def __str__(self):
        return self.name


class Coin(models.Model):
    # Exchanges use case-distinct names (Hyperliquid's kPEPE, builder dex:COIN),
    # so the symbol is stored as published; URLs match it case-insensitively,
    # which is why two symbols may not differ only by case.
    symbol = models.CharField(max_length=50)
    name = models.CharField(max_length=100, blank=True)
    active = models.BooleanField(default=True)

    class Meta:
        db_table = "coins"
        ordering = ["symbol"]
        constraints = [models.UniqueConstraint(Lower("symbol"), name="coins_symbol_ci_unique")]

    def __str__(self):
        return self.symbol


class QuoteCurrency(models.Model):
    symbol = models.CharField(max_length=20)
    name = models.CharField(max_length=100, blank=True)
    active = models.BooleanField(default=True)

    class Meta:
        db_table = "quote_currencies"
        ordering = ["symbol"]
        verbose_name_plural = "quote currencies"
        constraints = [models.UniqueConstraint(Lower("symbol"), name="quote_currencies_symbol_ci_unique")]

    def __str__(self):
        return self.symbol


class MarketType(models.Model):
    name = models.CharField(max_length=20, unique=True, help_text="e.g. perps, spot")
    display_name = models.CharField(max_length=100)
    active = models.BooleanField(default=True)

    class Meta:
        db_table = "market_types"
        ordering = ["name"]

    def __str__(self):
        return self.name


class Interval(models.Model):
    """A candle interval. Names are case-sensitive: 1m is a minute, 1M a month."""

    name = models.CharField(max_length=10, unique=True, db_collation="C")
    seconds = models.PositiveIntegerField(help_text="Nominal length; 1M counts 30 days")
    active = models.BooleanField(default=True)

    class Meta:
        db_table = "intervals"
        ordering = ["seconds"]
        constraints = [models.CheckConstraint(condition=models.Q(seconds__gt=0), name="intervals_seconds_positive")]

    def __str__(self):
        return self.name


class TradingPair(models.Model):
    """Funding rates and open interest belong here (they do not depend on an interval)."""

    exchange = models.ForeignKey(Exchange, on_delete=models.PROTECT, related_name="trading_pairs")
    coin = models.ForeignKey(Coin, on_delete=models.PROTECT, related_name="trading_pairs")
    quote = models.ForeignKey(QuoteCurrency, on_delete=models.PROTECT, related_name="trading_pairs")
    market_type = models.ForeignKey(MarketType, on_delete=models.PROTECT, related_name="trading_pairs")
    active = models.BooleanField(default=True)
    # Ticks cost disk (README, "Trades and order books"): collected only for the pairs that ask.
    collect_trades = models.BooleanField(default=False, help_text="Collect and store every trade of the pair")
    collect_orderbook = models.BooleanField(
        default=False, help_text="Keep the pair's order book in sync and store snapshots of its top levels"
    )
    orderbook_depth = models.PositiveSmallIntegerField(
        default=20,
        validators=[MinValueValidator(1), MaxValueValidator(1000)],
        help_text="Levels per side in each stored snapshot (1..1000)",
    )
    orderbook_every_seconds = models.FloatField(
        default=1.0,
        validators=[MinValueValidator(0.1), MaxValueValidator(3600)],
        help_text="Seconds between stored snapshots (0.1..3600)",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "trading_pairs"
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["exchange", "coin", "quote", "market_type"], name="trading_pairs_unique_market"
            )
        ]

    def __str__(self):
        return (
            f"{self.exchange_id and self.exchange.name}/{self.symbol}/{self.market_type_id and self.market_type.name}"
        )

    @property
    def symbol(self):
        """The pair as clients know it, e.g. BTC/USD."""
        return f"{self.coin.symbol}/{self.quote.symbol}"

    @property
    def path(self):
        return f"{self.exchange.name}/{self.coin.symbol}/{self.quote.symbol}/{self.market_type.name}"


class Starlisting(models.Model):
    """A trading pair at one interval: the series candles belong to."""

    trading_pair = models.ForeignKey(TradingPair, on_delete=models.PROTECT, related_name="starlistings")
    interval = models.ForeignKey(Interval, on_delete=models.PROTECT, related_name="starlistings")
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "starlistings"
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["trading_pair", "interval"], name="starlistings_unique_pair_interval")
        ]

    def __str__(self):
        return f"{self.trading_pair.path}/{self.interval.name}"
