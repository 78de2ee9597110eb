"""Trades a venue pushed while a stream was reconnecting, found so they can be read back from REST.

Some venues replay recent trades to a new subscription (Hyperliquid); others do not (Binance, OKX), and what
they pushed between two connections is lost to the stream. Across a reconnect, the first trade of each
series on the new connection is compared with the last one seen before it: the window between them is
what ``history.trade_pages`` (optional in an adapter) reads back, stored through the same write path
(a trade seen twice is stored once). A venue that replays sends the old trades again first: no window.
"""


class TradeGaps:
    def __init__(self):
        self.last_ms = {}  # series -> time of the newest trade seen (epoch ms)
        self.before = {}  # series -> the newest trade time before the reconnect, until its first trade after it

    def reconnected(self):
        self.before = dict(self.last_ms)

    def seen(self, trade):
        """``(series, start_ms, end_ms)`` to read back when ``trade`` is the first after a reconnect and newer
        than every trade before it, else None."""
        coin, moment = trade.coin, trade.time_us // 1000
        if moment > self.last_ms.get(coin, -1):
            self.last_ms[coin] = moment
        if not self.before:  # no reconnect waiting for its first trades: the usual case
            return None
        since = self.before.pop(coin, None)
        return (coin, since, moment) if since is not None and moment > since else None
