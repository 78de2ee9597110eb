"""Binance endpoints, frames and limits (EXCHANGES.md sections 2 and 3).

Binance lists the same symbol (``BTCUSDT``) on two markets with two APIs,
so the adapter has two endpoints, named by market: ``usdm`` (USD-M
perpetuals) and ``spot``.

WebSocket: combined streams (``.../stream``; every push is
``{"stream": name, "data": payload}``), subscribed with
``{"method": "SUBSCRIBE", "params": [stream names], "id": n}`` and acked
``{"result": null, "id": n}``. Stream names are lowercase:
``btcusdt@kline_1m``, ``btcusdt@markPrice@1s`` (funding; USD-M only).
The server pings (every 3 min on USD-M, 20 s on spot) and the client's
WebSocket answers with pongs; a connection lives at most 24 hours. Limits
per connection: 1024 streams; incoming messages (subscribes, pings, pongs)
10 per second on USD-M, 5 on spot; beyond that Binance disconnects.
Open interest has no stream: ``GET /fapi/v1/openInterest`` (weight 1).
Diff depth (``btcusdt@depth@100ms``) is served on USD-M's separate
``/public`` route (endpoint ``usdm-public``: a stream sent to the wrong
route gets no data and no error) and on spot's one endpoint. A book starts
from a REST snapshot: ``GET /fapi/v1/depth`` (limit 1000, weight 20) or
``GET /api/v3/depth`` (limit 1000, weight 50).

REST: spot klines at ``GET /api/v3/klines`` (max 1000 rows, weight 2,
6000 weight/min per IP) and USD-M klines at ``GET /fapi/v1/klines``
(max 1500 rows, weight 1/2/5/10 by limit, 2400 weight/min per IP); USD-M
funding history ``GET /fapi/v1/fundingRate`` (max 1000 rows) and open
interest history ``GET /futures/data/openInterestHist`` (5m and longer
periods, the last 30 days, max 500 rows). A 429 asks the client to back
off for ``Retry-After`` seconds; ignoring 429s earns a 418 IP ban, also
with ``Retry-After``. Used weight comes back in ``X-MBX-USED-WEIGHT-1M``.
"""

import itertools

import orjson
from django.conf import settings

NAME = "binance"
LIVE = True

SPOT, USDM = "spot", "usdm"
# USD-M's high-frequency route (depth); its frames belong to the USD-M market.
USDM_PUBLIC = "usdm-public"
MARKET_OF = {SPOT: SPOT, USDM: USDM, USDM_PUBLIC: USDM}
# Kirby interval names equal Binance's for every interval Kirby knows (Binance adds 1s).
INTERVALS = frozenset({"1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w", "1M"})
KLINES_PATH = {SPOT: "/api/v3/klines", USDM: "/fapi/v1/klines"}
MAX_KLINES = {SPOT: 1000, USDM: 1500}
WEIGHT_PER_MINUTE = {SPOT: 6000, USDM: 2400}
USED_WEIGHT_HEADER = "X-MBX-USED-WEIGHT-1M"
OPEN_INTEREST_PATH = "/fapi/v1/openInterest"
OPEN_INTEREST_WEIGHT = 1
FUNDING_PATH = "/fapi/v1/fundingRate"
MAX_FUNDING_ROWS = 1000
FUNDING_WEIGHT = 1
OPEN_INTEREST_HISTORY_PATH = "/futures/data/openInterestHist"
MAX_OPEN_INTEREST_ROWS = 500
OPEN_INTEREST_HISTORY_WEIGHT = 1
OPEN_INTEREST_HISTORY_INTERVALS = frozenset({"5m", "15m", "30m", "1h", "2h", "4h", "6h", "12h", "1d"})
OPEN_INTEREST_HISTORY_DAYS = 30
DEPTH_PATH = {SPOT: "/api/v3/depth", USDM: "/fapi/v1/depth"}
AGG_TRADES_PATH = {SPOT: "/api/v3/aggTrades", USDM: "/fapi/v1/aggTrades"}
AGG_TRADES_WEIGHT = {SPOT: 4, USDM: 20}
MAX_AGG_TRADES = 1000
DEPTH_LIMIT = 1000
DEPTH_WEIGHT = {SPOT: 50, USDM: 20}  # at limit 1000

# Client messages per second per connection (Binance disconnects beyond them); Kirby sends at most 80 %.
MESSAGES_PER_SECOND = {USDM: 10, SPOT: 5}
SEND_SHARE = 0.8
STREAMS_PER_SUBSCRIBE = 100

_request_ids = itertools.count(1)


def base_url(market):
    return settings.KIRBY_BINANCE_SPOT_REST_URL if market == SPOT else settings.KIRBY_BINANCE_USDM_REST_URL


def klines_url(market, base=None):
    return (base or base_url(market)).rstrip("/") + KLINES_PATH[market]


def klines_weight(market, limit):
    """Request weight of one klines call (what a per-exchange token bucket should charge)."""
    if market == SPOT:
        return 2
    if limit < 100:
        return 1
    if limit < 500:
        return 2
    return 5 if limit <= 1000 else 10


# --- live ---------------------------------------------------------------------------------------


def endpoint(name):
    """``usdm:BTCUSDT`` is served by the USD-M endpoint, ``spot:BTCUSDT`` by spot's."""
    return name.partition(":")[0]


def book_endpoint(name):
    """Depth of ``usdm:BTCUSDT`` comes from USD-M's ``/public`` route; spot's from spot's one endpoint."""
    return USDM_PUBLIC if endpoint(name) == USDM else SPOT


def ws_url(endpoint):
    return {
        SPOT: settings.KIRBY_BINANCE_SPOT_WS_URL,
        USDM: settings.KIRBY_BINANCE_USDM_WS_URL,
        USDM_PUBLIC: settings.KIRBY_BINANCE_USDM_PUBLIC_WS_URL,
    }[endpoint]


def _symbol(name):
    return name.partition(":")[2].lower()


def candle_subscription(name, interval):
    return [endpoint(name), f"{_symbol(name)}@kline_{interval}"]


def context_subscription(name):
    return [endpoint(name), f"{_symbol(name)}@markPrice@1s"]


def trades_subscription(name):
    """Aggregate trades: the trade stream USD-M documents (parser.parse_agg_trade says why)."""
    return [endpoint(name), f"{_symbol(name)}@aggTrade"]


def book_subscription(name):
    """Diff depth every 100 ms (the local book is kept from it and a REST snapshot, see book.py)."""
    return [book_endpoint(name), f"{_symbol(name)}@depth@100ms"]


def _frames(method, subscriptions):
    streams = [stream for _, stream in subscriptions]
    return [
        orjson.dumps({"method": method, "params": streams[i : i + STREAMS_PER_SUBSCRIBE], "id": next(_request_ids)})
        .decode()
        for i in range(0, len(streams), STREAMS_PER_SUBSCRIBE)
    ]  # fmt: skip


def subscribe_frames(subscriptions):
    return _frames("SUBSCRIBE", subscriptions)


def unsubscribe_frames(subscriptions):
    return _frames("UNSUBSCRIBE", subscriptions)


def messages_per_second(endpoint):
    return MESSAGES_PER_SECOND[MARKET_OF[endpoint]] * SEND_SHARE


def ping_frame():
    """None: Binance's server pings and the client's WebSocket layer answers with pongs."""
    return None


def subscriptions_per_connection():
    return settings.KIRBY_BINANCE_STREAMS_PER_CONNECTION


def connection_seconds():
    return settings.KIRBY_BINANCE_CONNECTION_SECONDS


def poll_seconds():
    return settings.KIRBY_BINANCE_OPEN_INTEREST_POLL_SECONDS
