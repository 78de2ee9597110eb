"""Binance REST endpoints and limits (EXCHANGES.md sections 2.3 and 3).

Binance lists the same symbol (``BTCUSDT``) on two markets with two APIs:
spot klines at ``GET /api/v3/klines`` (max 1000 rows, weight 2,
6000 weight/min per IP) and USD-M perpetual klines at ``GET /fapi/v1/klines``
(max 1500 rows, weight 1/2/5/10 by limit, 2400 weight/min per IP). A 429
asks the client to back off for ``Retry-After`` seconds; ignoring 429s earns
a 418 IP ban, also with ``Retry-After``. Used weight comes back in the
``X-MBX-USED-WEIGHT-1M`` header.
"""

from django.conf import settings

NAME = "binance"
LIVE = False  # history only: no stream is started for Binance

SPOT, USDM = "spot", "usdm"
# Kirby interval names equal Binance's for every interval Kirby knows (Binance adds 1s).
INTERVALS = frozenset({"1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w", "1M"})
KLINES_PATH = {SPOT: "/api/v3/klines", USDM: "/fapi/v1/klines"}
MAX_KLINES = {SPOT: 1000, USDM: 1500}
WEIGHT_PER_MINUTE = {SPOT: 6000, USDM: 2400}
USED_WEIGHT_HEADER = "X-MBX-USED-WEIGHT-1M"


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
