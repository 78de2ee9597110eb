"""Completeness: the share of expected closed candles a starlisting holds in a window.

Expected are the window's slots, less those the ledger shows the exchange
has nothing for (slots still empty inside a repaired gap: no trades, or an
exchange outage). The window reported in /health is the last
KIRBY_COMPLETENESS_WINDOW_HOURS up to the latest closed slot, which is the
later of the last slot ended by the clock and the latest closed candle
stored; it starts no earlier than the series' first stored candle (what
came before is the ledger's "never collected") nor before the retention
horizon of its interval (what came before was removed on purpose).
"""

import time

from django.conf import settings

from apps.backfill.models import DataType, Gap
from apps.marketdata import coverage, retention
from apps.markets.models import Starlisting
from apps.markets.slots import Slots
from lib.timeutil import from_ms, to_ms


def completeness(starlisting_id, interval, start_ms, end_ms, using="default"):
    """{"expected", "present", "exchange_empty", "ratio"} for ``[start, end)``; ratio None when nothing is expected."""
    return _measure([(starlisting_id, interval, start_ms, end_ms)], using)[starlisting_id]


def _measure(windows, using="default"):
    """completeness() of many ``(starlisting id, interval, start ms, end ms)`` windows, by starlisting id.

    Two queries of stored candles for any number of starlistings (/health and
    the status document ask for all of them), plus one of the ledger.
    """
    if not windows:
        return {}
    bounds = {sid: (interval, start_ms, end_ms) for sid, interval, start_ms, end_ms in windows}
    counted = coverage.closed_candles_in([(sid, from_ms(s), from_ms(e)) for sid, (_, s, e) in bounds.items()], using)
    present = dict(zip(bounds, counted))
    repaired = Gap.objects.using(using).filter(
        starlisting_id__in=list(bounds), data_type=DataType.CANDLES, status=Gap.Status.REPAIRED,
        start_time__lt=from_ms(max(e for _, _, e in bounds.values())),
        end_time__gt=from_ms(min(s for _, s, _ in bounds.values())),
    ).values_list("starlisting_id", "start_time", "end_time")  # fmt: skip
    overlaps = []  # (starlisting id, start ms, end ms) of each repaired gap inside its window
    for sid, gap_start, gap_end in repaired:
        _, start_ms, end_ms = bounds[sid]
        piece = (max(to_ms(gap_start), start_ms), min(to_ms(gap_end), end_ms))
        if piece[0] < piece[1]:
            overlaps.append((sid, *piece))
    stored = coverage.closed_candles_in([(sid, from_ms(s), from_ms(e)) for sid, s, e in overlaps], using)
    empty = dict.fromkeys(bounds, 0)
    for (sid, piece_start, piece_end), in_gap in zip(overlaps, stored):
        empty[sid] += Slots(bounds[sid][0]).count(piece_start, piece_end) - in_gap
    result = {}
    for sid, (interval, start_ms, end_ms) in bounds.items():
        expected = Slots(interval).count(start_ms, end_ms) - empty[sid]
        result[sid] = {
            "expected": expected,
            "present": present[sid],
            "exchange_empty": empty[sid],
            "ratio": None if expected <= 0 else round(present[sid] / expected, 6),
        }
    return result


def report(now_ms=None):
    """Completeness of every active starlisting over the health window, keyed by starlisting path."""
    now_ms = now_ms or int(time.time() * 1000)
    window_ms = int(settings.KIRBY_COMPLETENESS_WINDOW_HOURS * 3600 * 1000)
    rows = list(
        Starlisting.objects.filter(active=True).values_list(
            "id",
            "trading_pair__exchange__name",
            "trading_pair__coin__symbol",
            "trading_pair__quote__symbol",
            "trading_pair__market_type__name",
            "interval__name",
        )  # fmt: skip
    )
    horizons = retention.horizons(from_ms(now_ms))
    spans = coverage.closed_candle_spans([row[0] for row in rows], from_ms(now_ms - window_ms - 31 * 86_400_000))
    entries, windows = {}, []
    for starlisting_id, exchange, coin, quote, market_type, interval in rows:
        slots = Slots(interval)
        first, last = spans.get(starlisting_id, (None, None))
        end_ms = slots.floor(now_ms)
        if last is not None:
            end_ms = max(end_ms, slots.next(to_ms(last)))
        start_ms = end_ms - window_ms
        horizon = horizons.get(retention.series_policy("candles", interval))
        if horizon is not None:  # purged history is not missing
            start_ms = max(start_ms, slots.ceil(to_ms(horizon)))
        if first is not None:
            start_ms = max(start_ms, to_ms(first))
            windows.append((starlisting_id, interval, start_ms, end_ms))
        entries[starlisting_id] = (f"{exchange}/{coin}/{quote}/{market_type}/{interval}", {
            "starlisting_id": starlisting_id, "window_start": from_ms(start_ms), "window_end": from_ms(end_ms),
            "retention_horizon": horizon,
            "expected": None, "present": 0, "exchange_empty": 0, "ratio": None,
        })  # fmt: skip
    for starlisting_id, measured in _measure(windows).items():
        entries[starlisting_id][1].update(measured)
    return dict(entries.values())
