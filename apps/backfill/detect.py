"""The periodic scan for holes, interval-aware.

Only closed candles count, and a slot is expected only once its interval
has ended at least KIRBY_GAP_SETTLE_SECONDS ago (a 1d candle is not missing
at 13:00: it has not closed; nor is a minute missing while the collector
is still closing it). A hole between two stored rows is reported once the
row after it has been stored that long, which leaves the collector's own
reconnect repair time to fill it first. Holes after the last stored row
count too for active series (the collector is down). The scan looks back
KIRBY_GAP_LOOKBACK_HOURS (and at least three slots); what lies before a series' first row is the
backfill's business, not the scan's.

Open interest has no history on Hyperliquid, so a hole of more than
KIRBY_GAP_OI_SLACK_PERIODS periods (a few periods without an update are a
quiet market, not downtime) goes into the ledger as unrecoverable.
"""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from apps.backfill import ledger
from apps.backfill.models import Gap
from apps.collectors.exchanges import EXCHANGES, get_adapter
from apps.marketdata import coverage, retention
from apps.marketdata.series import candle_series, pair_series
from apps.markets.models import Starlisting, TradingPair
from lib.timeutil import from_ms, to_ms


def _holes(series, now, trailing):
    """[(start_ms, end_ms)] of the series' holes in the lookback window."""
    slots = series.slots
    gap, slack_ms = slots.sql_step(), 0
    if series.data_type == "open_interest":
        seconds = settings.KIRBY_CONTEXT_PERIOD_SECONDS * settings.KIRBY_GAP_OI_SLACK_PERIODS
        gap, slack_ms = f"{seconds} seconds", int(seconds * 1000)
    settled = now - timedelta(seconds=settings.KIRBY_GAP_SETTLE_SECONDS)
    # At least a few slots back, so a daily or weekly series has a last candle to look from.
    since = min(
        now - timedelta(hours=settings.KIRBY_GAP_LOOKBACK_HOURS), from_ms(slots.shift(slots.floor(to_ms(now)), -3))
    )
    cutoff = retention.horizon_of_series(series, now)
    if cutoff is not None:
        since = max(since, cutoff)  # purged history is not a hole
    pairs = coverage.holes(series.data_type, series.series_id, since, gap, settled)
    holes = [(slots.next(to_ms(slot)), to_ms(next_slot)) for slot, next_slot in pairs]
    if trailing:
        last = coverage.last_time(series.data_type, series.series_id, since)
        expected_until = slots.floor(to_ms(settled))  # slots before it have ended SETTLE seconds ago
        after_last = None if last is None else slots.next(slots.floor(to_ms(last)))
        if after_last is not None and after_last + slack_ms < expected_until:
            holes.append((after_last, expected_until))
    return holes


def _record(series, holes):
    created = []
    for start_ms, end_ms in holes:
        if series.data_type == "open_interest":
            created += ledger.record_gap(
                series, start_ms, end_ms, Gap.Reason.DOWNTIME, status=Gap.Status.UNRECOVERABLE,
                detail="the exchange has no open-interest history",
            )  # fmt: skip
        else:
            created += ledger.record_gap(series, start_ms, end_ms, Gap.Reason.DOWNTIME)
    return created


def find_holes(now=None):
    """Record the holes of every active series; return the new Gap rows."""
    now = now or timezone.now()
    created = []
    starlistings = Starlisting.objects.filter(
        active=True, trading_pair__active=True, trading_pair__exchange__name__in=EXCHANGES
    ).values_list("id", flat=True)
    for starlisting_id in starlistings:
        series = candle_series(starlisting_id)
        created += _record(series, _holes(series, now, trailing=True))
    pairs = TradingPair.objects.filter(active=True, exchange__name__in=EXCHANGES).values_list(
        "id", "exchange__name", "market_type__name"
    )
    for pair_id, exchange, market_type in pairs:
        if get_adapter(exchange).symbols.has_asset_context(market_type):
            for data_type in ("funding", "open_interest"):
                series = pair_series(data_type, pair_id)
                created += _record(series, _holes(series, now, trailing=True))
    return created
