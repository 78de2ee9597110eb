"""Hyperliquid frames -> events. Fields are read by name: key order varies between captures."""

from decimal import Decimal, InvalidOperation

from apps.collectors.exchanges.events import (
    ZERO,
    AssetContext,
    BookSnapshot,
    Control,
    MalformedFrame,
    TradeUpdate,
    decimal,
    integer,
    json_object,
    kline_update,
    levels,
    new_event,
    text,
)

# The taker's side: B bought (lifted the ask), A sold (hit the bid).
SIDES = {"B": "buy", "A": "sell"}

GREETING = "Websocket connection established."


def parse_frame(raw, endpoint=""):
    """Return a list of events for one text frame; raise MalformedFrame for anything unexpected."""
    if raw == GREETING:
        return [Control("greeting")]
    message = json_object(raw)
    channel = message.get("channel")
    if channel == "trades":  # the busiest channel, without the table's call
        return _trades(message.get("data"))
    handler = _CHANNELS.get(channel) if type(channel) is str else None  # a list would not even hash
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
    # Channels Kirby does not collect (bbo, spot contexts) are valid, not malformed.
    return []


def parse_trade(item):
    """One fill of ``trades``: ``tid`` is the venue's id, ``time`` epoch ms, ``side`` the taker's (B/A)."""
    # The usual fill, checked in one go (a flood is tens of thousands a second); anything else, or
    # anything wrong, goes the field-by-field way, which names what is wrong.
    if type(item) is dict:
        side, trade_id, coin, moment = item.get("side"), item.get("tid"), item.get("coin"), item.get("time")
        side = "buy" if side == "B" else "sell" if side == "A" else None  # as SIDES, and no hash of a list
        price, size = item.get("px"), item.get("sz")
        if side and type(trade_id) is int and type(coin) is str and coin and type(moment) is int:
            if type(price) is str and type(size) is str:
                try:
                    price, size = Decimal(price), Decimal(size)
                except InvalidOperation:
                    return _checked_trade(item)
                if price.is_finite() and size.is_finite() and price > ZERO and size > ZERO:
                    return new_event(TradeUpdate, (coin, str(trade_id), price, size, side, moment * 1000))
    return _checked_trade(item)


def _checked_trade(item):
    if not isinstance(item, dict):
        raise MalformedFrame("trade is not an object")
    side = SIDES.get(item.get("side")) if type(item.get("side")) is str else None
    if side is None:
        raise MalformedFrame(f"trade side is not B or A: {item.get('side')!r}")
    trade_id = item.get("tid")
    if isinstance(trade_id, bool) or not isinstance(trade_id, int | str) or trade_id in ("", None):
        raise MalformedFrame(f"trade without an id: {trade_id!r}")
    price, size = decimal(item.get("px"), "px"), decimal(item.get("sz"), "sz")
    if price <= 0 or size <= 0:
        raise MalformedFrame(f"trade with a price or size that is not positive: {price} x {size}")
    return TradeUpdate(
        coin=text(item.get("coin"), "coin"),
        trade_id=str(trade_id),
        price=price,
        size=size,
        side=side,
        time_us=integer(item.get("time"), "time") * 1000,
    )


def _trades(data):
    # One frame can hold several fills of one taker order (same hash, distinct tid).
    if not isinstance(data, list):
        raise MalformedFrame("trades data is not a list")
    return [parse_trade(item) for item in data]


def parse_book(data):
    """An ``l2Book`` frame (or the REST l2Book answer): the whole top of the book, no sequence."""
    if not isinstance(data, dict):
        raise MalformedFrame("l2Book data is not an object")
    sides = data.get("levels")
    if not isinstance(sides, list) or len(sides) != 2:
        raise MalformedFrame("l2Book levels is not [bids, asks]")
    bids, asks = (
        levels([[_field(level, "px"), _field(level, "sz")] for level in side], name)
        for side, name in ((_side(sides[0]), "bids"), (_side(sides[1]), "asks"))
    )
    return BookSnapshot(
        coin=text(data.get("coin"), "coin"),
        time_ms=integer(data.get("time"), "time", nullable=True),
        sequence=None,
        bids=bids,
        asks=asks,
    )


def _side(value):
    if not isinstance(value, list):
        raise MalformedFrame("l2Book side is not a list")
    return value


def _field(level, name):
    if not isinstance(level, dict):
        raise MalformedFrame(f"l2Book level is not an object: {level!r}")
    return level.get(name)


def _book(data):
    return [parse_book(data)]


_CHANNELS = {
    "candle": _candle,
    "activeAssetCtx": _asset_context,
    "subscriptionResponse": _ack,
    "pong": _pong,
    "error": _error,
    "trades": _trades,
    "l2Book": _book,
    "bbo": _ignored,
    "activeSpotAssetCtx": _ignored,
}
