"""What backfill does when other apps announce something.

New starlistings and trading pairs get their history without anyone asking;
a collector stream that missed candles has them read back through the
history engine (synchronously: the stream waits for the answer).
"""

from django.conf import settings
from django.dispatch import receiver

from apps.backfill.jobs import backfill_new_series
from apps.backfill.repair import on_candles_missed
from apps.collectors.repair import candles_missed
from apps.markets.signals import series_created


@receiver(series_created)
def backfill_created_series(sender, starlisting_ids=(), trading_pair_ids=(), **kwargs):
    if settings.KIRBY_BACKFILL_NEW_SERIES:
        backfill_new_series(starlisting_ids, trading_pair_ids)


candles_missed.connect(on_candles_missed, dispatch_uid="apps.backfill.repair")
