"""Freshness and completeness of every active starlisting, judged against its own interval.

Freshness: candles carry their open time (UTC). A live series stores its
current, still open candle, so the newest stored candle opened at most one
interval ago. ``missing`` counts the intervals that have begun (more than
``KIRBY_STATUS_FRESHNESS_GRACE_SECONDS`` ago) since the newest candle's: 0 is
green, 1 amber (the next candle is late), 2 or more red. So a 1d series whose
candle of today opened 3 hours ago is fine, and a 1m series quiet for 3
minutes is not. ``behind_seconds`` is how long ago the newest candle's
interval ended (0 while it is still open).

Completeness and open gaps come from the gap ledger (apps.backfill): the
share of expected closed candles present over the last
``KIRBY_COMPLETENESS_WINDOW_HOURS``, slots the exchange had nothing for not
expected; the same figure /health shows.
"""

from datetime import UTC, datetime, timedelta

from django.conf import settings

from apps.backfill import completeness as ledger
from apps.backfill import reporting as backfill_status
from apps.marketdata import queries
from apps.markets.models import Starlisting
from apps.operations.status.judge import AMBER, GREEN, RED, duration, verdict
from lib.metrics import set_gaps_open


def _active_starlistings():
    return list(
        Starlisting.objects.filter(active=True, trading_pair__active=True)
        .select_related("interval", "trading_pair__exchange", "trading_pair__coin", "trading_pair__quote")
        .select_related("trading_pair__market_type")
        .order_by("id")
    )


def name_of(starlisting):
    pair = starlisting.trading_pair
    return (
        f"{pair.exchange.name}/{pair.coin.symbol}/{pair.quote.symbol}/{pair.market_type.name}/"
        f"{starlisting.interval.name}"
    )


def judge_freshness(latest, interval_seconds, now, grace):
    """(verdict, missing intervals, seconds behind) of a series whose newest candle opened at ``latest``."""
    if latest is None:
        return verdict(RED, "no candles stored"), None, None
    since_open = (now - latest).total_seconds()
    behind = max(0.0, since_open - interval_seconds)
    missing = max(0, int((since_open - grace) // interval_seconds))
    if missing == 0:
        return verdict(GREEN, "up to date"), 0, behind
    words = f"no new candle for {duration(behind)} ({missing} interval{'s' if missing > 1 else ''})"
    return (
        verdict(AMBER if missing == 1 else RED, f"stale: {words}" if missing > 1 else f"late: {words}"),
        missing,
        behind,
    )


def starlisting_section(now):
    """[{id, name, interval, last_candle_time, behind_seconds, missing_intervals, age_intervals,
    completeness, open_gaps, state, reason}], by starlisting id."""
    moment = datetime.fromtimestamp(now, UTC)
    grace = settings.KIRBY_STATUS_FRESHNESS_GRACE_SECONDS
    window = timedelta(hours=settings.KIRBY_COMPLETENESS_WINDOW_HOURS)
    set_gaps_open(backfill_status.open_gaps_total())
    starlistings = _active_starlistings()
    if not starlistings:
        return []
    latest_of = queries.latest_candle_times([s.id for s in starlistings])
    gaps = backfill_status.open_gaps([s.id for s in starlistings])
    ratios = {entry["starlisting_id"]: entry["ratio"] for entry in ledger.report(int(now * 1000)).values()}
    section = []
    for starlisting in starlistings:
        seconds = starlisting.interval.seconds
        latest = latest_of.get(starlisting.id)
        judged, missing, behind = judge_freshness(latest, seconds, moment, grace)
        complete = ratios.get(starlisting.id)
        open_gaps = gaps.get(starlisting.id, 0)
        if judged["state"] == GREEN and complete is not None and complete < 1:
            judged = verdict(
                AMBER, f"{(1 - complete) * 100:.1f}% of candles missing in the last {duration(window.total_seconds())}"
            )
        if judged["state"] == GREEN and open_gaps:
            judged = verdict(AMBER, f"{open_gaps} open gap(s)")
        section.append(
            {
                "id": starlisting.id,
                "name": name_of(starlisting),
                "interval": starlisting.interval.name,
                "last_candle_time": None if latest is None else latest.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "behind_seconds": None if behind is None else round(behind, 1),
                "missing_intervals": missing,
                "age_intervals": None if latest is None else round((moment - latest).total_seconds() / seconds, 2),
                "completeness": complete,
                "open_gaps": open_gaps,
                **judged,
            }
        )
    return section
