"""The collector's reconnect repair, through the history engine (receiver of collectors' ``candles_missed``).

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

from apps.backfill import engine, ledger
from apps.backfill.gap_repairs import queue_repairs
from apps.backfill.models import Gap
from apps.backfill.sources import CandleSource
from apps.marketdata import coverage
from apps.marketdata.series import candle_series
from lib.budget import Budget
from lib.metrics import count_ingested

log = logging.getLogger(__name__)

MAX_PAGES = 2
FAR_AHEAD_MS = 30 * 86_400_000


def repair_missed(exchange, coin, interval, starlisting_ids, start_ms, before_ms, now_ms, **kwargs):
    """Read back and store the closed candles of one series from ``start_ms`` on; return how many rows.

    See apps.collectors.repair.repair_missed for the arguments. A series
    never collected is skipped (its history is the backfill's job).
    """
    if start_ms is None:
        start_ms = coverage.after_last_closed(starlisting_ids, before_ms or now_ms)
        if start_ms is None:
            return 0
    end_ms = before_ms if before_ms is not None else now_ms + FAR_AHEAD_MS
    if start_ms >= end_ms:
        return 0
    gaps = []
    if before_ms is not None:  # a known window: into the ledger before anything is fetched
        for starlisting_id in starlisting_ids:
            gaps += ledger.record_gap(candle_series(starlisting_id), start_ms, before_ms, Gap.Reason.DOWNTIME)
    series = candle_series(starlisting_ids[0])
    source = CandleSource(
        series, Budget(exchange), before_ms if before_ms is not None else now_ms, starlisting_ids=starlisting_ids
    )
    stored, complete = 0, False
    try:
        filled = engine.fill(
            source, start_ms, end_ms, purpose="repair", max_pages=MAX_PAGES,
            # Rows a collector reads back are collector ingest, on the dashboard's plot as in
            # kirby_records_written_total.
            on_page=lambda page, written, filled: count_ingested(written.written),
        )  # fmt: skip
        stored, complete = filled.received, filled.complete
    except Exception as error:  # the live stream goes on; the hole goes to a backfill job
        log.warning("repairing %s %s %s from %s failed: %s", exchange, coin, interval, start_ms, error)
    if complete:
        for gap in gaps:
            ledger.mark_repaired(gap)
    else:
        queue_repairs(gaps)
    return stored


def on_candles_missed(sender, **kwargs):
    return repair_missed(**kwargs)
