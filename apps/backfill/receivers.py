"""New starlistings and trading pairs get their history without anyone asking."""

from django.conf import settings
from django.dispatch import receiver

from apps.backfill.jobs import backfill_new_series
from apps.markets.signals import series_created


@receiver(series_created)
def backfill_created_series(sender, starlisting_ids=(), trading_pair_ids=(), **kwargs):
    if settings.KIRBY_BACKFILL_NEW_SERIES:
        backfill_new_series(starlisting_ids, trading_pair_ids)
