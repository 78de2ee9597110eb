"""Fill the candles a stream missed: while disconnected, or when pushes skip ahead.

When the first push of a series arrives on a new connection, or a push
arrives more than one interval after the previous one, the candles in
between are read back from the exchange's REST history and stored with
their final values (a later candle exists, so they are closed). Series that
have not pushed a few seconds after a connect (quiet markets) are read back
too, so a candle left open by a dead connection still gets closed. The start
of the hole after a reconnect is the series' last closed candle in the
database, which also closes a candle left open when the previous connection
(or worker) died. The window is recorded in the gap ledger first; the
candles read back are stored directly (not through the stream's batcher) so
the ledger can say "repaired" only once they are committed. Holes longer
than a few history pages become backfill jobs (queue ``backfill``). REST
calls are paid from the exchange's shared budget.
"""

import logging

from django.db.models import Max, Min, Q

from apps.backfill import ledger
from apps.backfill.budget import Budget
from apps.backfill.models import Gap
from apps.backfill.series import candle_series
from apps.collectors.normalize import candle_records
from apps.marketdata.models import Candle
from apps.marketdata.writer import write_candles
from lib.metrics import count_ingested
from lib.timeutil import from_ms, to_ms

log = logging.getLogger(__name__)

MAX_PAGES = 2
FAR_AHEAD_MS = 30 * 86_400_000


def repair_missed(adapter, coin, interval, starlisting_ids, start_ms, before_ms, now_ms):
    """Read back and store the closed candles of one series from ``start_ms`` on; return how many.

    With ``before_ms`` (the open time of a live push) every candle before it
    is final. Without it (a series that has not pushed since the connect),
    candles are final when a later one exists or their interval has ended.
    ``start_ms`` None means "after the last closed candle stored, or from the
    oldest one left open"; a series never collected is skipped (its history
    is the backfill's job).
    """
    if start_ms is None:
        start_ms = _after_last_final(starlisting_ids, before_ms or now_ms)
        if start_ms is None:
            return []
    end_ms = before_ms if before_ms is not None else now_ms + FAR_AHEAD_MS
    if start_ms >= end_ms:
        return 0
    gaps = []
    if before_ms is not None:  # a known window: into the ledger before anything is fetched
        for starlisting_id in starlisting_ids:
            gaps += ledger.record_gap(candle_series(starlisting_id), start_ms, before_ms, Gap.Reason.DOWNTIME)
    candles, complete = [], False
    try:
        pages = adapter.history.candle_pages(coin, interval, start_ms, end_ms, budget=Budget(adapter.name))
        for number, page in enumerate(pages, start=1):
            candles.extend(page)
            if number >= MAX_PAGES:
                break
        else:
            complete = True
    except Exception as error:  # the live stream goes on; the hole goes to a backfill job
        log.warning("repairing %s %s %s from %s failed: %s", adapter.name, coin, interval, start_ms, error)
    records = []
    for position, candle in enumerate(candles):
        final = before_ms is not None or position < len(candles) - 1 or now_ms > candle.close_ms
        if final:
            records.extend(candle_records(candle._replace(closed=True), starlisting_ids))
    # Rows a collector reads back are collector ingest, on the dashboard's plot as in kirby_records_written_total.
    count_ingested(write_candles(records, exchange=adapter.name).written)
    if complete:
        for gap in gaps:
            ledger.mark_repaired(gap)
    else:
        ledger.queue_repairs(gaps)
    return len(records)


def _after_last_final(starlisting_ids, before_ms):
    found = Candle.objects.filter(starlisting_id__in=starlisting_ids).aggregate(
        last_closed=Max("time", filter=Q(closed=True)),
        oldest_open=Min("time", filter=Q(closed=False, time__lt=from_ms(before_ms))),
    )
    starts = []
    if found["last_closed"] is not None:
        starts.append(to_ms(found["last_closed"]) + 1)
    if found["oldest_open"] is not None:
        starts.append(to_ms(found["oldest_open"]))
    return min(starts, default=None)
