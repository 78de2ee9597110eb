"""Coinbase Advanced Trade public market data (EXCHANGES.md section 6): endpoint, channels, frames, limits.

Coinbase publishes no one-minute candles on its WebSocket (its ``candles``
channel has five-minute buckets only), so Kirby subscribes to
``market_trades`` and builds every candle itself from the trades, then
checks each closed one against the REST candles (see parser.TradeCandles
and apps.collectors.reconcile). ``heartbeats`` is subscribed as well: it
keeps quiet channels open and, like every message, carries the
connection's ``sequence_num``, which grows by one per message across
channels, so a jump means lost messages.

One channel per subscribe message (``{"type": "subscribe", "channel",
"product_ids"}``), sent within 5 s of connecting; unauthenticated clients
may send 8 messages per second per IP. The server pings at the WebSocket
level (aiohttp answers). REST: ``GET /api/v3/brokerage/market/products/
{product_id}/candles?start&end&granularity`` (unix seconds, at most 350
candles, newest first, no auth), about 10 requests per second per IP.
"""

import orjson
from django.conf import settings

from apps.markets.intervals import STANDARD_INTERVALS

NAME = "coinbase"
LIVE = True

TRADES_CHANNEL = "market_trades"
HEARTBEATS_CHANNEL = "heartbeats"
BOOK_CHANNEL = "level2"  # subscribed as level2, its messages come on l2_data
BOOK_DATA_CHANNEL = "l2_data"

# Kirby interval -> Coinbase REST granularity, where Coinbase publishes the interval itself.
GRANULARITIES = {
    "1m": "ONE_MINUTE",
    "5m": "FIVE_MINUTE",
    "15m": "FIFTEEN_MINUTE",
    "30m": "THIRTY_MINUTE",
    "1h": "ONE_HOUR",
    "2h": "TWO_HOUR",
    "6h": "SIX_HOUR",
    "1d": "ONE_DAY",
}
# Every Kirby interval can be built exactly: live from trades, in history by aggregating the longest
# published granularity that divides it (3m from 1m; 4h, 8h, 12h from 2h; 3d, 1w and 1M from 1d).
INTERVALS = frozenset(STANDARD_INTERVALS)
MAX_CANDLES = 350
REQUEST_WEIGHT = 1
CANDLES_PATH = "/api/v3/brokerage/market/products/{product_id}/candles"

# Coinbase allows 8 unauthenticated client messages per second per IP; Kirby sends at most half.
MESSAGES_PER_SECOND = 4
PRODUCTS_PER_CONNECTION = 100


def base_interval(interval):
    """The published granularity history aggregates ``interval`` from (itself when Coinbase publishes it)."""
    if interval in GRANULARITIES:
        return interval
    if interval == "3m":
        return "1m"
    if interval in ("4h", "8h", "12h"):
        return "2h"
    return "1d"  # 3d, 1w, 1M: whole UTC days


def rest_url(product_id, base=None):
    return (base or settings.KIRBY_COINBASE_REST_URL).rstrip("/") + CANDLES_PATH.format(product_id=product_id)


# --- live ---------------------------------------------------------------------------------------


def endpoint(name):
    """One public market-data endpoint serves every product."""
    return ""


def ws_url(endpoint):
    return settings.KIRBY_COINBASE_WS_URL


def subscriptions_per_connection():
    return PRODUCTS_PER_CONNECTION


def candle_subscription(name, interval):
    # The interval is part of the key so that each planned candle series is routed to a connection;
    # the frames subscribe the product's trades once whatever the intervals.
    return [TRADES_CHANNEL, name, interval]


def context_subscription(name):
    raise ValueError("Coinbase spot has no funding or open interest")


def trades_subscription(name):
    """The product's trades are stored: the same ``market_trades`` channel the candles are built from."""
    return [TRADES_CHANNEL, name]


def book_subscription(name):
    """``level2``: a snapshot of the whole book, then updates of changed levels (absolute sizes)."""
    return [BOOK_CHANNEL, name]


def _products(subscriptions, channel):
    return sorted({name for kind, name, *_ in subscriptions if kind == channel})


def _frames(kind, subscriptions):
    return [
        orjson.dumps({"type": kind, "channel": channel, "product_ids": products}).decode()
        for channel in (TRADES_CHANNEL, BOOK_CHANNEL)
        if (products := _products(subscriptions, channel))
    ]


def subscribe_frames(subscriptions):
    """One subscribe per channel with every product (``market_trades``, ``level2``), then ``heartbeats``."""
    frames = _frames("subscribe", subscriptions)
    if not frames:
        return []
    products = sorted({name for _, name, *_ in subscriptions})
    heartbeats = {"type": "subscribe", "channel": HEARTBEATS_CHANNEL, "product_ids": products}
    return [*frames, orjson.dumps(heartbeats).decode()]


def unsubscribe_frames(subscriptions):
    """``level2`` unsubscribes only (a book resubscribed for a fresh snapshot, or no longer wanted).

    ``market_trades`` is never unsubscribed: the same product may still be
    wanted at another interval or for its trades, and the stream only says
    what went. Trades of a product no longer planned are ignored (the
    candle builder builds the connection's current plan only, trades are
    kept for the plan's trade products) until the connection is next replaced.
    """
    products = _products(subscriptions, BOOK_CHANNEL)
    if not products:
        return []
    return [orjson.dumps({"type": "unsubscribe", "channel": BOOK_CHANNEL, "product_ids": products}).decode()]


def messages_per_second(endpoint):
    return MESSAGES_PER_SECOND


def ping_frame():
    """None: Coinbase pings at the WebSocket level and the client's WebSocket answers."""
    return None


def connection_seconds():
    return None


def poll_seconds():
    return None


def close_grace_ms():
    """How long after an interval ends its built candle may still receive trades."""
    return int(settings.KIRBY_COINBASE_CLOSE_GRACE_SECONDS * 1000)
