"""Bybit V5 public endpoints, topics, frames and limits (EXCHANGES.md section 4).

One symbol string (``BTCUSDT``) names a linear perpetual and a spot pair
alike; the *category* tells them apart: the WebSocket path
(``KIRBY_BYBIT_WS_URL`` + ``/linear`` or ``/spot``) and the REST
``category`` parameter. Topics are ``kline.{interval}.{symbol}``,
``tickers.{symbol}``, ``publicTrade.{symbol}`` and
``orderbook.{depth}.{symbol}``; a subscribe message carries many topics in ``args``
(spot accepts at most 10 per message, linear has no count limit but every
connection's args together must stay under 21,000 characters). The client
sends ``{"op":"ping"}`` every 20 s. REST: 600 requests per 5 s per IP; over
it Bybit answers 403 "access too frequent" (or retCode 10006) and wants a
pause. Every REST call here weighs 1.
"""

import orjson
from django.conf import settings

NAME = "bybit"
LIVE = True

LINEAR, SPOT = "linear", "spot"
CATEGORIES = (LINEAR, SPOT)

# Kirby interval -> Bybit interval. Bybit has no 8h or 3d; its weekly candle opens on Monday, not on
# Kirby's epoch-aligned Thursday (❔ not verified in the docs), so 1w is left out rather than mislabelled.
INTERVALS = {
    "1m": "1",
    "3m": "3",
    "5m": "5",
    "15m": "15",
    "30m": "30",
    "1h": "60",
    "2h": "120",
    "4h": "240",
    "6h": "360",
    "12h": "720",
    "1d": "D",
    "1M": "M",
}
KIRBY_INTERVALS = {bybit: kirby for kirby, bybit in INTERVALS.items()}

MAX_KLINES = 1000
MAX_FUNDING_ROWS = 200
MAX_OPEN_INTEREST_ROWS = 200
# Open-interest history periods: Kirby interval -> Bybit intervalTime.
OPEN_INTEREST_PERIODS = {"5m": "5min", "15m": "15min", "30m": "30min", "1h": "1h", "4h": "4h", "1d": "1d"}
REQUEST_WEIGHT = 1
# Book depth subscribed: 50 levels are offered on linear and spot alike, pushed every 20 ms, and hold the
# default 20 stored levels with room; 200 would push 5-10x less often for levels rarely asked for. A pair
# storing more than 50 levels gets 50.
BOOK_DEPTH = 50
RECENT_TRADES_LIMIT = {"linear": 1000, "spot": 60}  # the most /v5/market/recent-trade answers
RECENT_TRADES_PATH = "/v5/market/recent-trade"
SPOT_ARGS_PER_SUBSCRIBE = 10
ARGS_CHARACTERS_PER_CONNECTION = 21_000
PING_SECONDS = 20
# Topics per connection: the longest Kirby topic (``kline.240.`` + a 20-character symbol) times this
# stays well under the 21,000 characters of args Bybit accepts on one connection.
TOPICS_PER_CONNECTION = 500

KLINE_PATH = "/v5/market/kline"
FUNDING_PATH = "/v5/market/funding/history"
OPEN_INTEREST_PATH = "/v5/market/open-interest"


def ws_url(category):
    """The public stream of ``category``: ``.../v5/public/linear`` or ``.../v5/public/spot``."""
    if category not in CATEGORIES:
        raise ValueError(f"no Bybit category {category!r}")
    return settings.KIRBY_BYBIT_WS_URL.rstrip("/") + "/" + category


def rest_url(path, base=None):
    return (base or settings.KIRBY_BYBIT_REST_URL).rstrip("/") + path


def kline_topic(symbol, interval):
    """Topic of ``symbol``'s candles of Kirby interval ``interval`` (``kline.1.BTCUSDT``)."""
    return f"kline.{INTERVALS[interval]}.{symbol}"


def tickers_topic(symbol):
    return f"tickers.{symbol}"


def trades_topic(symbol):
    return f"publicTrade.{symbol}"


def book_topic(symbol):
    return f"orderbook.{BOOK_DEPTH}.{symbol}"


def args_per_subscribe(category):
    """Topics one subscribe message may carry: spot allows 10; linear is bounded only by characters."""
    return SPOT_ARGS_PER_SUBSCRIBE if category == SPOT else None


def topic_frames(category, topics, op="subscribe", req_id="kirby"):
    """(Un)subscribe messages for ``topics``, each within the category's args limit."""
    size = args_per_subscribe(category) or max(1, len(topics))
    return [
        orjson.dumps({"req_id": f"{req_id}-{n}", "op": op, "args": topics[i : i + size]}).decode()
        for n, i in enumerate(range(0, len(topics), size))
    ]


def ping_frame():
    """Bybit closes a connection that has not pinged for a while: the client pings (every 20 s is asked)."""
    return '{"op":"ping"}'


# --- live (the adapter interface, apps.collectors.exchanges) -------------------------------------


def endpoint(name):
    """``linear:BTCUSDT`` is served by ``/linear``, ``spot:BTCUSDT`` by ``/spot``."""
    return name.partition(":")[0]


def candle_subscription(name, interval):
    category, _, symbol = name.partition(":")
    return [category, kline_topic(symbol, interval)]


def context_subscription(name):
    category, _, symbol = name.partition(":")
    return [category, tickers_topic(symbol)]


def trades_subscription(name):
    category, _, symbol = name.partition(":")
    return [category, trades_topic(symbol)]


def book_subscription(name):
    category, _, symbol = name.partition(":")
    return [category, book_topic(symbol)]


def _frames(op, subscriptions):
    if not subscriptions:
        return []
    category = subscriptions[0][0]  # one connection, one category (streams are planned per endpoint)
    return topic_frames(category, [topic for _, topic in subscriptions], op)


def subscribe_frames(subscriptions):
    return _frames("subscribe", subscriptions)


def unsubscribe_frames(subscriptions):
    return _frames("unsubscribe", subscriptions)


def messages_per_second(endpoint):
    """None: Bybit documents no limit on client messages per connection (only args per message)."""
    return None


def subscriptions_per_connection():
    return TOPICS_PER_CONNECTION


def connection_seconds():
    """None: Bybit keeps a pinged connection open without a maximum age."""
    return None


def poll_seconds():
    """None: open interest comes with ``tickers``; nothing is polled."""
    return None
