"""When is a candle closed? For exchanges that do not say (Hyperliquid).

A candle is closed once an update with a later open time arrives for the
same coin and interval, or once its interval has ended by the wall clock.
The open candle is pushed many times; each push replaces the stored row
until the candle closes, and the closing version is stored with closed=True.
"""

from dataclasses import dataclass

from apps.collectors.exchanges.events import CandleUpdate

# ``closed`` is CandleUpdate's last field: an update with it decided is the tuple's head plus the flag, made with
# the C constructor (NamedTuple._replace is a Python loop over the fields: the busiest line of a candle flood).
assert CandleUpdate._fields[-1] == "closed"
_new = tuple.__new__


def _with_closed(update, closed):
    return _new(CandleUpdate, update[:-1] + (closed,))


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
            return [_with_closed(update, True)]
        out = []
        if latest is not None and update.open_ms > latest.update.open_ms and not latest.closed_sent:
            out.append(_with_closed(latest.update, True))
        closed = now_ms > update.close_ms
        if latest is None:
            self._latest[key] = _Latest(update, closed_sent=closed)
        else:
            latest.update, latest.closed_sent = update, closed
        out.append(_with_closed(update, closed))
        return out

    def expire(self, now_ms):
        """Close candles whose interval has ended without a newer push (quiet markets)."""
        out = []
        for latest in self._latest.values():
            if not latest.closed_sent and now_ms > latest.update.close_ms:
                latest.closed_sent = True
                out.append(_with_closed(latest.update, True))
        return out
