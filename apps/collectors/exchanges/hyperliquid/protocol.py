"""Hyperliquid WebSocket frames and endpoints.

One subscription per (type, coin[, interval]); no batches. The server closes
a connection it has sent nothing on for 60 s, so the client pings.
"""

import orjson
from django.conf import settings

NAME = "hyperliquid"
# Intervals Hyperliquid serves (it has no 6h).
INTERVALS = frozenset({"1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "8h", "12h", "1d", "3d", "1w", "1M"})


def endpoint(name):
    """Every Hyperliquid series is served on the one WebSocket endpoint."""
    return ""


def ws_url(endpoint=""):
    return settings.KIRBY_HYPERLIQUID_WS_URL


def rest_url():
    return settings.KIRBY_HYPERLIQUID_REST_URL


def candle_subscription(coin, interval):
    return {"type": "candle", "coin": coin, "interval": interval}


def context_subscription(coin):
    return {"type": "activeAssetCtx", "coin": coin}


def trades_subscription(coin):
    return {"type": "trades", "coin": coin}


def book_subscription(coin):
    """Full top-20 snapshots per block (at least 0.5 s apart): no sequence to follow, no deltas."""
    return {"type": "l2Book", "coin": coin}


def subscribe_frame(subscription):
    return orjson.dumps({"method": "subscribe", "subscription": subscription}).decode()


def unsubscribe_frame(subscription):
    return orjson.dumps({"method": "unsubscribe", "subscription": subscription}).decode()


def subscribe_frames(subscriptions):
    return [subscribe_frame(subscription) for subscription in subscriptions]


def unsubscribe_frames(subscriptions):
    return [unsubscribe_frame(subscription) for subscription in subscriptions]


def messages_per_second(endpoint):
    """Hyperliquid documents no per-connection message rate; its limit is per minute per IP (2000)."""
    return None


def connection_seconds():
    """Hyperliquid connections have no maximum age."""
    return None


def poll_seconds():
    """Everything Kirby collects from Hyperliquid arrives on the WebSocket."""
    return None


def ping_frame():
    return '{"method":"ping"}'


def subscriptions_per_connection():
    return settings.KIRBY_HYPERLIQUID_SUBSCRIPTIONS_PER_CONNECTION
