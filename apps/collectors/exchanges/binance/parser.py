"""Binance kline payloads -> CandleUpdate.

REST rows (``/api/v3/klines``, ``/fapi/v1/klines``) are 12-element arrays
``[openTime, open, high, low, close, volume, closeTime, quoteVolume, trades,
takerBuyBase, takerBuyQuote, ignore]``; stream payloads carry the same
values by name in ``k`` (``t o h l c v T q n V Q B``) with ``x`` = closed.
Times are epoch milliseconds; ``closeTime`` is the last millisecond of the
candle. Prices and sizes are exact decimal strings.
"""

from apps.collectors.exchanges.events import CandleUpdate, MalformedFrame, decimal, integer, kline_update, text

REST_FIELDS = 12


def parse_kline_row(row, name, interval, now_ms):
    """One REST kline row of series ``name`` (``market:SYMBOL``); closed once its close time is past ``now_ms``."""
    if not isinstance(row, list) or len(row) < REST_FIELDS - 1:
        raise MalformedFrame(f"kline row is not an array of {REST_FIELDS} values: {row!r}")
    close_ms = integer(row[6], "closeTime")
    return CandleUpdate(
        coin=name,
        interval=interval,
        open_ms=integer(row[0], "openTime"),
        close_ms=close_ms,
        open=decimal(row[1], "open"),
        high=decimal(row[2], "high"),
        low=decimal(row[3], "low"),
        close=decimal(row[4], "close"),
        volume=decimal(row[5], "volume"),
        num_trades=integer(row[8], "trades", nullable=True),
        closed=close_ms < now_ms,
    )


def parse_stream_kline(message, market):
    """A kline stream message (raw or combined ``{"stream", "data"}``) -> CandleUpdate, ``x`` = closed."""
    data = message.get("data", message) if isinstance(message, dict) else None
    fields = data.get("k") if isinstance(data, dict) else None
    if not isinstance(fields, dict) or data.get("e") != "kline":
        raise MalformedFrame("not a kline event")
    closed = fields.get("x")
    if not isinstance(closed, bool):
        raise MalformedFrame(f"x is not a boolean: {closed!r}")
    return kline_update(fields, f"{market}:{text(fields.get('s'), 's')}", closed)
