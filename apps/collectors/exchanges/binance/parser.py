"""Binance frames and REST rows -> events.

REST kline rows (``/api/v3/klines``, ``/fapi/v1/klines``) are 12-element
arrays ``[openTime, open, high, low, close, volume, closeTime, quoteVolume,
trades, takerBuyBase, takerBuyQuote, ignore]``. Stream pushes come in the
combined-stream envelope ``{"stream", "data"}``: klines carry the same values
by name in ``k`` (``t o h l c v T n i s``) with ``x`` = closed;
``markPriceUpdate`` carries the mark price ``p``, index price ``i`` (absent
in old payloads), funding rate ``r`` and next funding time ``T``. Times are
epoch milliseconds; ``closeTime`` is the last millisecond of the candle.
Prices and sizes are exact decimal strings. Series are named
``market:SYMBOL`` (see symbols), the market being the endpoint the frame
came from.
"""

from decimal import Decimal, InvalidOperation

from apps.collectors.exchanges.binance.protocol import INTERVALS, MARKET_OF, USDM
from apps.collectors.exchanges.events import (
    ZERO,
    BookDelta,
    BookSnapshot,
    CandleUpdate,
    Control,
    FundingUpdate,
    MalformedFrame,
    OpenInterestUpdate,
    TradeUpdate,
    decimal,
    integer,
    json_object,
    kline_update,
    levels,
    new_event,
    text,
)

REST_FIELDS = 12
# Streams Kirby does not collect are valid, not malformed.
IGNORED_STREAMS = ("@trade", "@bookTicker")


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
    update = kline_update(fields, f"{market}:{text(fields.get('s'), 's')}", closed)
    if update.interval not in INTERVALS:
        raise MalformedFrame(f"kline of an interval Kirby does not collect: {update.interval!r}")
    if update.close_ms <= update.open_ms:
        raise MalformedFrame(f"kline closes before it opens: {update.open_ms}..{update.close_ms}")
    return update


def parse_mark_price(data, market):
    if market != USDM:
        raise MalformedFrame("markPriceUpdate outside USD-M futures")
    return FundingUpdate(
        coin=f"{market}:{text(data.get('s'), 's')}",
        funding_rate=decimal(data.get("r"), "r"),
        mark_price=decimal(data.get("p"), "p"),
        index_price=decimal(data.get("i"), "i", nullable=True),
        next_funding_ms=integer(data.get("T"), "T", nullable=True),
    )


def parse_open_interest(body):
    """``GET /fapi/v1/openInterest`` -> OpenInterestUpdate (one side, in base units)."""
    if not isinstance(body, dict):
        raise MalformedFrame("openInterest answer is not an object")
    return OpenInterestUpdate(
        f"{USDM}:{text(body.get('symbol'), 'symbol')}", decimal(body.get("openInterest"), "openInterest")
    )


_COINS = {}  # market -> {symbol: the series name}, spelled once per symbol


def parse_agg_trade(data, market):
    """An ``aggTrade``: the fills of one taker order at one price, ``a`` its id; ``m`` true = the buyer made.

    Kirby stores aggregate trades: the one trade stream USD-M futures documents, the same on spot, and
    what a taker did at each price (``f``..``l`` are the fills inside).
    """
    # The usual aggTrade, checked in one go (a flood is tens of thousands a second); anything else, or
    # anything wrong, goes the field-by-field way below, which names what is wrong.
    get = data.get
    maker_bought, symbol, agg_id, moment, price, size = get("m"), get("s"), get("a"), get("T"), get("p"), get("q")
    if (type(maker_bought) is bool and type(symbol) is str and symbol and type(agg_id) is int
            and type(moment) is int and type(price) is str and type(size) is str):  # fmt: skip
        try:
            price, size = Decimal(price), Decimal(size)
        except InvalidOperation:
            price = size = None
        if price is not None and price.is_finite() and size.is_finite() and price > ZERO and size > ZERO:
            names = _COINS.get(market)
            coin = None if names is None else names.get(symbol)
            if coin is None:
                coin = f"{market}:{symbol}"
                names = _COINS.setdefault(market, {})
                if len(names) < 10_000:  # bounded: a venue's symbols, not whatever a frame may say
                    names[symbol] = coin
            return new_event(TradeUpdate, (coin, str(agg_id), price, size, "sell" if maker_bought else "buy",
                                           moment * 1000))  # fmt: skip
    return _checked_agg_trade(data, market)


def _checked_agg_trade(data, market):
    maker_bought = data.get("m")
    if not isinstance(maker_bought, bool):
        raise MalformedFrame(f"m is not a boolean: {maker_bought!r}")
    price, size = decimal(data.get("p"), "p"), decimal(data.get("q"), "q")
    if price <= 0 or size <= 0:
        raise MalformedFrame(f"trade with a price or size that is not positive: {price} x {size}")
    return TradeUpdate(
        coin=f"{market}:{text(data.get('s'), 's')}",
        trade_id=str(integer(data.get("a"), "a")),
        price=price,
        size=size,
        side="sell" if maker_bought else "buy",
        time_us=integer(data.get("T"), "T") * 1000,
    )


def parse_depth_update(data, market):
    """A diff-depth event: ``U``..``u`` the update ids it holds, ``pu`` (USD-M only) the previous event's ``u``."""
    get = data.get
    symbol, first, last = get("s"), get("U"), get("u")
    time_ms = get("T") if "T" in data else get("E")
    previous = get("pu") if market == USDM else None
    # The common case checked inline (type(...) is int also refuses booleans); anything else takes the
    # path below, which names what is wrong.
    if (type(symbol) is str and symbol and type(first) is int and type(last) is int and type(time_ms) is int
            and (type(previous) is int or market != USDM)):  # fmt: skip
        return BookDelta(f"{market}:{symbol}", time_ms, first, last, previous, levels(get("b"), "b"),
                         levels(get("a"), "a"))  # fmt: skip
    return BookDelta(
        coin=f"{market}:{text(data.get('s'), 's')}",
        time_ms=integer(data.get("T", data.get("E")), "E"),
        first=integer(data.get("U"), "U"),
        last=integer(data.get("u"), "u"),
        previous=integer(data.get("pu"), "pu") if market == USDM else None,
        bids=levels(data.get("b"), "b"),
        asks=levels(data.get("a"), "a"),
    )


def parse_depth_snapshot(body, name):
    """``GET /fapi/v1/depth`` or ``/api/v3/depth`` of series ``name`` -> BookSnapshot at ``lastUpdateId``."""
    if not isinstance(body, dict):
        raise MalformedFrame("depth answer is not an object")
    return BookSnapshot(
        coin=name,
        time_ms=integer(body.get("T", body.get("E")), "T", nullable=True),
        sequence=integer(body.get("lastUpdateId"), "lastUpdateId"),
        bids=levels(body.get("bids"), "bids"),
        asks=levels(body.get("asks"), "asks"),
    )


def parse_frame(raw, endpoint):
    """Events of one text frame from ``endpoint`` (``usdm``, ``usdm-public`` or ``spot``); MalformedFrame for anything
    unexpected."""
    market = MARKET_OF.get(endpoint)  # series are named by market: depth from USD-M's /public route is usdm
    if market is None:
        raise ValueError(f"unknown Binance endpoint {endpoint!r}")
    message = json_object(raw)
    if "id" in message and ("result" in message or "error" in message):
        if message.get("error") is not None:
            return [Control("error", message["error"])]
        return [Control("ack", message.get("id"))]
    stream, data = message.get("stream"), message.get("data")
    if not isinstance(stream, str) or not isinstance(data, dict):
        raise MalformedFrame("not a combined-stream message")
    kind = data.get("e")
    parse = _EVENTS.get(kind) if type(kind) is str else None  # a list would not even hash
    if parse is not None:
        return [parse(data, market)]
    if kind == "serverShutdown":
        return [Control("error", "serverShutdown")]
    if any(marker in stream for marker in IGNORED_STREAMS):
        return []
    raise MalformedFrame(f"unknown stream {stream!r}")


# The events of the streams Kirby subscribes, by ``e``: one lookup, whichever is the busiest.
_EVENTS = {
    "depthUpdate": parse_depth_update,
    "aggTrade": parse_agg_trade,
    "kline": parse_stream_kline,
    "markPriceUpdate": parse_mark_price,
}
