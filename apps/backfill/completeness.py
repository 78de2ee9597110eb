"""Completeness: the share of expected closed candles a starlisting holds in a window.

Expected are the window's slots, less those the ledger shows the exchange
has nothing for (slots still empty inside a repaired gap: no trades, or an
exchange outage). The window reported in /health is the last
KIRBY_COMPLETENESS_WINDOW_HOURS up to the latest closed slot, which is the
later of the last slot ended by the clock and the latest closed candle
stored; it starts no earlier than the series' first stored candle (what
came before is the ledger's "never collected").
"""

import time

from django.conf import settings
from django.db import connection

from apps.backfill.series import Slots
from apps.markets.models import Starlisting
from lib.timeutil import from_ms, to_ms

_SPAN_SQL = """
SELECT starlisting_id, min(time), max(time) FROM candles
WHERE starlisting_id = ANY(%s) AND time >= %s AND closed GROUP BY 1
"""
# Per window: closed candles present, and the repaired gaps overlapping it with the candles they hold.
# One query each for any number of starlistings (/health and the status document ask for all of them).
_WINDOWS = "unnest(%(ids)s::bigint[], %(starts)s::timestamptz[], %(ends)s::timestamptz[]) AS w(id, s, e)"
_PRESENT_SQL = f"""
SELECT w.id, (SELECT count(*) FROM candles c WHERE c.starlisting_id = w.id AND c.closed
                AND c.time >= w.s AND c.time < w.e)
FROM {_WINDOWS}
"""
_EMPTY_SQL = f"""
SELECT w.id, g.start_time, g.end_time,
  (SELECT count(*) FROM candles c WHERE c.starlisting_id = w.id AND c.closed
     AND c.time >= greatest(g.start_time, w.s) AND c.time < least(g.end_time, w.e))
FROM {_WINDOWS}
JOIN gaps g ON g.starlisting_id = w.id AND g.data_type = 'candles' AND g.status = 'repaired'
  AND g.start_time < w.e AND g.end_time > w.s
"""


def completeness(starlisting_id, interval, start_ms, end_ms):
    """{"expected", "present", "exchange_empty", "ratio"} for ``[start, end)``; ratio None when nothing is expected."""
    return _measure([(starlisting_id, interval, start_ms, end_ms)])[starlisting_id]


def _measure(windows):
    """completeness() of many ``(starlisting id, interval, start ms, end ms)`` windows, by starlisting id."""
    if not windows:
        return {}
    bounds = {sid: (interval, start_ms, end_ms) for sid, interval, start_ms, end_ms in windows}
    params = {
        "ids": list(bounds),
        "starts": [from_ms(start_ms) for _, start_ms, _ in bounds.values()],
        "ends": [from_ms(end_ms) for _, _, end_ms in bounds.values()],
    }
    with connection.cursor() as cursor:
        cursor.execute(_PRESENT_SQL, params)
        present = dict(cursor.fetchall())
        cursor.execute(_EMPTY_SQL, params)
        gaps = cursor.fetchall()
    empty = dict.fromkeys(bounds, 0)
    for sid, gap_start, gap_end, stored in gaps:
        interval, start_ms, end_ms = bounds[sid]
        empty[sid] += Slots(interval).count(max(to_ms(gap_start), start_ms), min(to_ms(gap_end), end_ms)) - stored
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
    with connection.cursor() as cursor:
        cursor.execute(_SPAN_SQL, [[row[0] for row in rows], from_ms(now_ms - window_ms - 31 * 86_400_000)])
        spans = {sid: (first, last) for sid, first, last in cursor.fetchall()}
    entries, windows = {}, []
    for starlisting_id, exchange, coin, quote, market_type, interval in rows:
        slots = Slots(interval)
        first, last = spans.get(starlisting_id, (None, None))
        end_ms = slots.floor(now_ms)
        if last is not None:
            end_ms = max(end_ms, slots.next(to_ms(last)))
        start_ms = end_ms - window_ms
        if first is not None:
            start_ms = max(start_ms, to_ms(first))
            windows.append((starlisting_id, interval, start_ms, end_ms))
        entries[starlisting_id] = (f"{exchange}/{coin}/{quote}/{market_type}/{interval}", {
            "starlisting_id": starlisting_id, "window_start": from_ms(start_ms), "window_end": from_ms(end_ms),
            "expected": None, "present": 0, "exchange_empty": 0, "ratio": None,
        })  # fmt: skip
    for starlisting_id, measured in _measure(windows).items():
        entries[starlisting_id][1].update(measured)
    return dict(entries.values())
