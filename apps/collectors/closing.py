"""When is a candle closed? For exchanges that do not say (Hyperliquid).

A candle is closed once an update with a later open time arrives for the
same coin and interval, or once its interval has ended by the wall clock.
The open candle is pushed many times; each push replaces the stored row
until the candle closes, and the closing version is stored with closed=True.
"""

from dataclasses import dataclass


@dataclass
class _Latest:
    update: object
    closed_sent: bool = False


class CandleCloser:
    """Feed updates in arrival order; get back updates with ``closed`` decided."""

    def __init__(self):
        self._latest = {}  # (coin, interval) -> _Latest

    def feed(self, update, now_ms):
        """Return the updates to store for one incoming update."""
        if update.closed is not None:  # the exchange says
            return [update]
        key = (update.coin, update.interval)
        latest = self._latest.get(key)
        if latest is not None and update.open_ms < latest.update.open_ms:
            # A late push for a candle a newer one has already superseded: final.
            return [update._replace(closed=True)]
        out = []
        if latest is not None and update.open_ms > latest.update.open_ms and not latest.closed_sent:
            out.append(latest.update._replace(closed=True))
        closed = now_ms > update.close_ms
        self._latest[key] = _Latest(update, closed_sent=closed)
        out.append(update._replace(closed=closed))
        return out

    def expire(self, now_ms):
        """Close candles whose interval has ended without a newer push (quiet markets)."""
        out = []
        for latest in self._latest.values():
            if not latest.closed_sent and now_ms > latest.update.close_ms:
                latest.closed_sent = True
                out.append(latest.update._replace(closed=True))
        return out
