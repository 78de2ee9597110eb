"""OKX V5 public endpoints, channels, frames and limits (EXCHANGES.md section 5).

Two WebSocket endpoints: candles (``candle1m``, ``candle1H``, ...) live on
the *business* endpoint (``KIRBY_OKX_BUSINESS_WS_URL``, OKX moved them there
in 2023), funding (``funding-rate``), open interest (``open-interest``),
mark prices (``mark-price``), trades (``trades``) and books (``books``) on
the *public* one (``KIRBY_OKX_WS_URL``). A
subscription is one OKX ``arg``, ``{"channel", "instId"}``; a subscribe
message carries many in ``args`` (at most 64 KB) and each is acked on its
own. The client keeps a connection open by sending the text ``ping`` (OKX
answers ``pong`` and drops a connection silent for 30 s). OKX allows 480
subscribe requests an hour per connection, so args are batched.

Bars: ``1m 3m 5m 15m 30m 1H 2H 4H`` are UTC (epoch) aligned; ``6H 12H 1D
1W 1M`` follow Hong Kong time, so Kirby asks for their ``utc`` forms. OKX has
no 8h bar; its 3-day and weekly bars are not aligned as Kirby's (the epoch,
a Thursday), so they are left out rather than mislabelled.

REST (``KIRBY_OKX_REST_URL``): ``/api/v5/market/history-candles`` (100 rows,
20 requests per 2 s), ``/api/v5/public/funding-rate-history`` (100 rows, 10
per 2 s) and ``/api/v5/rubik/stat/contracts/open-interest-history`` (100
rows, 10 per 2 s); every answer is ``{"code": "0", "msg", "data": [...]}``
newest first, numbers and times as strings. Swap contract values come from
``/api/v5/public/instruments``, the newest trades from ``/api/v5/market/trades``
(at most 500) and older ones from ``/api/v5/market/history-trades`` (100 a
page, 20 requests per 2 s, the last three months, paged backwards: ``type``
1 by ``tradeId``, 2 by ``ts``; ``after`` older than, ``before`` newer than,
ids only), weight 1 each. HTTP 429 or code ``50011`` means
too many requests. The per-exchange budget counts a history-candles call as
1 and the two endpoints allowed half as often as 2, so a budget of 600 a
minute keeps every endpoint within its own limit.
"""

import orjson
from django.conf import settings

NAME = "okx"
LIVE = True

PUBLIC, BUSINESS = "public", "business"
ENDPOINTS = (PUBLIC, BUSINESS)

INTERVALS = {
    "1m": "1m",
    "3m": "3m",
    "5m": "5m",
    "15m": "15m",
    "30m": "30m",
    "1h": "1H",
    "2h": "2H",
    "4h": "4H",
    "6h": "6Hutc",
    "12h": "12Hutc",
    "1d": "1Dutc",
    "1M": "1Mutc",
}
KIRBY_INTERVALS = {bar: kirby for kirby, bar in INTERVALS.items()}
CANDLE_PREFIX = "candle"
FUNDING_CHANNEL, OPEN_INTEREST_CHANNEL, MARK_PRICE_CHANNEL = "funding-rate", "open-interest", "mark-price"
TRADES_CHANNEL, BOOK_CHANNEL = "trades", "books"  # books: 400 levels a side, a snapshot then updates
# Mark prices first: an open-interest push heard before any mark price would have no notional value.
CONTEXT_CHANNELS = (MARK_PRICE_CHANNEL, FUNDING_CHANNEL, OPEN_INTEREST_CHANNEL)

ARGS_PER_SUBSCRIBE = 100  # about 5 KB of args, far under OKX's 64 KB a message
SUBSCRIPTIONS_PER_CONNECTION = 200  # a swap's context is three args: at most 600 args, six subscribe messages
PING_FRAME, PONG_FRAME = "ping", "pong"

HISTORY_CANDLES_PATH = "/api/v5/market/history-candles"
FUNDING_HISTORY_PATH = "/api/v5/public/funding-rate-history"
OPEN_INTEREST_HISTORY_PATH = "/api/v5/rubik/stat/contracts/open-interest-history"
INSTRUMENTS_PATH = "/api/v5/public/instruments"
RECENT_TRADES_PATH = "/api/v5/market/trades"
MAX_RECENT_TRADES = 500
HISTORY_TRADES_PATH = "/api/v5/market/history-trades"
MAX_HISTORY_TRADES = 100
HISTORY_TRADES_WEIGHT = 1  # 20 requests per 2 s, as history-candles
PAGE_BY_TRADE_ID, PAGE_BY_TIME = "1", "2"  # history-trades ``type``
MAX_CANDLES = 100
MAX_FUNDING_ROWS = 100
MAX_OPEN_INTEREST_ROWS = 100
CANDLES_WEIGHT, FUNDING_WEIGHT, OPEN_INTEREST_WEIGHT = 1, 2, 2
RATE_LIMIT_CODE = "50011"
# Open-interest history periods: Kirby interval -> OKX period.
OPEN_INTEREST_PERIODS = {"5m": "5m", "15m": "15m", "30m": "30m", "1h": "1H", "2h": "2H", "4h": "4H",
                         "6h": "6Hutc", "12h": "12Hutc", "1d": "1Dutc"}  # fmt: skip


def candle_channel(interval):
    """``candle1m``, ``candle1H``, ``candle1Dutc``: the channel of Kirby interval ``interval``."""
    return CANDLE_PREFIX + INTERVALS[interval]


def rest_url(path, base=None):
    return (base or settings.KIRBY_OKX_REST_URL).rstrip("/") + path


# --- live ---------------------------------------------------------------------------------------


def endpoint(name):
    """Funding, open interest, mark prices, trades and books of every instrument are on the public endpoint."""
    return PUBLIC


def candle_endpoint(name):
    """Candles of every instrument are on the business endpoint."""
    return BUSINESS


def ws_url(endpoint):
    if endpoint == BUSINESS:
        return settings.KIRBY_OKX_BUSINESS_WS_URL
    if endpoint == PUBLIC:
        return settings.KIRBY_OKX_WS_URL
    raise ValueError(f"no OKX endpoint {endpoint!r}")


def candle_subscription(name, interval):
    return {"channel": candle_channel(interval), "instId": name}


def context_subscription(name):
    """The three public channels a swap's funding, open interest and its notional value come from."""
    return [{"channel": channel, "instId": name} for channel in CONTEXT_CHANNELS]


def trades_subscription(name):
    return {"channel": TRADES_CHANNEL, "instId": name}


def book_subscription(name):
    return {"channel": BOOK_CHANNEL, "instId": name}


def _args(subscriptions):
    args = []
    for subscription in subscriptions:
        args.extend(subscription if isinstance(subscription, list) else [subscription])
    return args


def _frames(op, subscriptions):
    args = _args(subscriptions)
    return [
        orjson.dumps({"op": op, "args": args[i : i + ARGS_PER_SUBSCRIBE]}).decode()
        for i in range(0, len(args), ARGS_PER_SUBSCRIBE)
    ]


def subscribe_frames(subscriptions):
    return _frames("subscribe", subscriptions)


def unsubscribe_frames(subscriptions):
    return _frames("unsubscribe", subscriptions)


def messages_per_second(endpoint):
    """None: OKX limits subscribe requests per hour, which batching ``ARGS_PER_SUBSCRIBE`` args keeps far from."""
    return None


def ping_frame():
    return PING_FRAME


def subscriptions_per_connection():
    return SUBSCRIPTIONS_PER_CONNECTION


def connection_seconds():
    """None: OKX keeps a connection as long as it hears from the client."""
    return None


def poll_seconds():
    """None: everything Kirby collects from OKX is streamed."""
    return None
