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

from apps.backfill.series import Slots, from_ms, to_ms
from apps.markets.models import Starlisting

_SPAN_SQL = """
SELECT starlisting_id, min(time), max(time) FROM candles
WHERE starlisting_id = ANY(%s) AND time >= %s AND closed GROUP BY 1
"""
_EMPTY_SQL = """
SELECT g.starlisting_id, g.start_time, g.end_time,
  (SELECT count(*) FROM candles c WHERE c.starlisting_id = g.starlisting_id AND c.closed
     AND c.time >= greatest(g.start_time, %(start)s) AND c.time < least(g.end_time, %(end)s))
FROM gaps g
WHERE g.data_type = 'candles' AND g.status = 'repaired' AND g.starlisting_id = %(id)s
  AND g.start_time < %(end)s AND g.end_time > %(start)s
"""
_PRESENT_SQL = "SELECT count(*) FROM candles WHERE starlisting_id = %s AND closed AND time >= %s AND time < %s"


def completeness(starlisting_id, interval, start_ms, end_ms):
    """{"expected", "present", "exchange_empty", "ratio"} for ``[start, end)``; ratio None when nothing is expected."""
    slots = Slots(interval)
    with connection.cursor() as cursor:
        cursor.execute(_PRESENT_SQL, [starlisting_id, from_ms(start_ms), from_ms(end_ms)])
        present = cursor.fetchone()[0]
        cursor.execute(_EMPTY_SQL, {"id": starlisting_id, "start": from_ms(start_ms), "end": from_ms(end_ms)})
        empty = sum(
            slots.count(max(to_ms(gap_start), start_ms), min(to_ms(gap_end), end_ms)) - stored
            for _, gap_start, gap_end, stored in cursor.fetchall()
        )
    expected = slots.count(start_ms, end_ms) - empty
    return {
        "expected": expected,
        "present": present,
        "exchange_empty": empty,
        "ratio": None if expected <= 0 else round(present / expected, 6),
    }


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
    result = {}
    for starlisting_id, exchange, coin, quote, market_type, interval in rows:
        slots = Slots(interval)
        first, last = spans.get(starlisting_id, (None, None))
        end_ms = slots.floor(now_ms)
        if last is not None:
            end_ms = max(end_ms, slots.next(to_ms(last)))
        start_ms = end_ms - window_ms
        if first is not None:
            start_ms = max(start_ms, to_ms(first))
        entry = {"starlisting_id": starlisting_id, "window_start": from_ms(start_ms), "window_end": from_ms(end_ms)}
        entry.update(completeness(starlisting_id, interval, start_ms, end_ms) if first else {
            "expected": None, "present": 0, "exchange_empty": 0, "ratio": None})  # fmt: skip
        result[f"{exchange}/{coin}/{quote}/{market_type}/{interval}"] = entry
    return result
