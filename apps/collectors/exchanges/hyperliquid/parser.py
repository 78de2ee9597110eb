"""Hyperliquid frames -> events. Fields are read by name: key order varies between captures."""

from apps.collectors.exchanges.events import (
    AssetContext,
    Control,
    MalformedFrame,
    decimal,
    json_object,
    kline_update,
    text,
)

GREETING = "Websocket connection established."


def parse_frame(raw, endpoint=""):
    """Return a list of events for one text frame; raise MalformedFrame for anything unexpected."""
    if raw == GREETING:
        return [Control("greeting")]
    message = json_object(raw)
    channel = message.get("channel")
    handler = _CHANNELS.get(channel)
    if handler is None:
        raise MalformedFrame(f"unknown channel {channel!r}")
    return handler(message.get("data"))


def parse_candle(data):
    if not isinstance(data, dict):
        raise MalformedFrame("candle data is not an object")
    return kline_update(data, text(data.get("s"), "s"), None)  # Hyperliquid never says closed: apps.collectors.closing


def _candle(data):
    # The gitbook documents a list; every capture shows one object. Accept both.
    if isinstance(data, list):
        return [parse_candle(item) for item in data]
    return [parse_candle(data)]


def _asset_context(data):
    if not isinstance(data, dict) or not isinstance(data.get("ctx"), dict):
        raise MalformedFrame("activeAssetCtx without a ctx object")
    ctx = data["ctx"]
    return [
        AssetContext(
            coin=text(data.get("coin"), "coin"),
            funding_rate=decimal(ctx.get("funding"), "funding"),
            open_interest=decimal(ctx.get("openInterest"), "openInterest"),
            mark_price=decimal(ctx.get("markPx"), "markPx", nullable=True),
            oracle_price=decimal(ctx.get("oraclePx"), "oraclePx", nullable=True),
            mid_price=decimal(ctx.get("midPx"), "midPx", nullable=True),
            premium=decimal(ctx.get("premium"), "premium", nullable=True),
            day_base_volume=decimal(ctx.get("dayBaseVlm"), "dayBaseVlm", nullable=True),
            day_notional_volume=decimal(ctx.get("dayNtlVlm"), "dayNtlVlm", nullable=True),
        )
    ]


def _ack(data):
    return [Control("ack", data)]


def _pong(data):
    return [Control("pong")]


def _error(data):
    return [Control("error", data)]


def _ignored(data):
    # Channels Kirby does not collect yet (trades, books) are valid, not malformed.
    return []


_CHANNELS = {
    "candle": _candle,
    "activeAssetCtx": _asset_context,
    "subscriptionResponse": _ack,
    "pong": _pong,
    "error": _error,
    "trades": _ignored,
    "l2Book": _ignored,
    "bbo": _ignored,
    "activeSpotAssetCtx": _ignored,
}
