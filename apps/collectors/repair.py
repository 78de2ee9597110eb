"""Fill the candles a stream missed: while disconnected, or when pushes skip ahead.

When the first push of a series arrives on a new connection, or a push
arrives more than one interval after the previous one, the candles in
between are read back from the exchange's REST history and stored with
their final values (a later candle exists, so they are closed). The start
of the hole after a reconnect is the series' last closed candle in the
database, which also closes a candle left open when the previous connection
(or worker) died. Holes longer than a few history pages are left to the
backfill and the gap ledger.
"""

import logging

from django.db.models import Max

from apps.collectors.records import candle_records
from apps.marketdata.models import Candle

log = logging.getLogger(__name__)

MAX_PAGES = 2


def missed_candles(adapter, coin, interval, starlisting_ids, start_ms, before_ms):
    """Closed candle records with open time in ``[start_ms, before_ms)``.

    ``start_ms`` None means "after the last closed candle stored"; a series
    never collected is skipped (its history is the backfill's job).
    """
    if start_ms is None:
        last = Candle.objects.filter(starlisting_id__in=starlisting_ids, closed=True).aggregate(last=Max("time"))
        if last["last"] is None:
            return []
        start_ms = int(last["last"].timestamp() * 1000) + 1
    if start_ms >= before_ms:
        return []
    records = []
    try:
        pages = adapter.history.candle_pages(coin, interval, start_ms, before_ms)
        for number, page in enumerate(pages, start=1):
            for update in page:
                records.extend(candle_records(update._replace(closed=True), starlisting_ids))
            if number >= MAX_PAGES:
                break
    except Exception as error:  # the live stream goes on; the hole stays for the backfill
        log.warning("repairing %s %s %s [%s, %s) failed: %s", adapter.name, coin, interval, start_ms, before_ms, error)
    return records
