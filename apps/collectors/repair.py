"""The hook a stream calls when it missed candles: while disconnected, or when pushes skip ahead.

Collectors cannot run the read-back themselves (the history engine and the
gap ledger live in apps.backfill, a layer that may use collectors, never
the reverse), so the stream announces the hole on ``candles_missed`` and
the receivers (apps.backfill.repair, connected in its AppConfig.ready) read
it back, synchronously, in the caller's thread. ``repair_missed`` returns
how many candle rows they stored (0 when nobody listens).
"""

from django.dispatch import Signal

# Sent with exchange, coin, interval, starlisting_ids, start_ms, before_ms, now_ms (see repair_missed).
candles_missed = Signal()


def repair_missed(adapter, coin, interval, starlisting_ids, start_ms, before_ms, now_ms):
    """Have the closed candles of one series from ``start_ms`` on read back and stored; return how many rows.

    With ``before_ms`` (the open time of a live push) every candle before it
    is final. Without it (a series that has not pushed since the connect),
    candles are final when a later one exists or their interval has ended.
    ``start_ms`` None means "after the last closed candle stored, or from the
    oldest one left open". Errors of a receiver propagate to the stream.
    """
    responses = candles_missed.send(
        sender=adapter.name, exchange=adapter.name, coin=coin, interval=interval,
        starlisting_ids=list(starlisting_ids), start_ms=start_ms, before_ms=before_ms, now_ms=now_ms,
    )  # fmt: skip
    return sum(stored for _, stored in responses)
