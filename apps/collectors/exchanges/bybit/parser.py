"""Bybit V5 frames and REST answers -> events.

WebSocket (one parser per connection, since tickers are stateful):

- ``kline.{interval}.{symbol}``: ``data`` is a list of candles with
  ``start``/``end`` (ms ints), ``open high low close volume`` (decimal
  strings, ``volume`` in base units) and ``confirm`` (true once closed; the
  open candle is pushed again and again).
- ``tickers.{symbol}``: a ``snapshot`` then ``delta``s carrying only the
  fields that changed, so every delta is merged into the symbol's last
  snapshot before events are made: a FundingUpdate (rate, mark, index,
  Bybit's next funding time) and an OpenInterestUpdate (with the mark price
  and 24-hour volumes). ``openInterest`` counts **both sides**
  of the book; Kirby's open interest is one side (as Hyperliquid's), so
  ``singleOpenInterest`` is used when Bybit sends it and half of
  ``openInterest`` (exact) otherwise. Spot tickers have no funding.
- acks ``{"success", "ret_msg", "op"}``, pongs (linear: ``op`` ping with
  ``ret_msg`` pong; spot: ``op`` pong).
- ``publicTrade.{symbol}``: ``data`` lists trades, each a TradeUpdate: ``i``
  the venue's id (text: a UUID on linear, digits on spot), ``T`` ms, ``S``
  the taker's side (Buy/Sell), ``p`` and ``v``.
- ``orderbook.{depth}.{symbol}``: a ``snapshot`` (BookSnapshot, the whole
  book) then ``delta``s (BookDelta); ``u`` is the update id, ``first`` and
  ``last`` of every event alike (one update per message), ``ts`` its time.
  The book rule (next ``u`` = previous + 1, a new snapshot resets) is in
  ``book``.

Bad input (a frame that is not JSON, an unknown topic or symbol, a number
that is not a number, a kline of an interval not subscribed, a delta with no
snapshot) is counted per exchange (``kirby_messages_received_total{exchange
="bybit", type="malformed"}`` and ``Parser.rejected`` by reason), logged as a
rate-limited sample and skipped: ``Parser.feed`` never raises. The live
stream calls ``Parser.parse`` through ``connection_parser`` and does the
counting itself, like for every exchange.

REST answers are ``{"retCode", "retMsg", "result": {"list": [...]}}`` with
every number and time a string; lists come newest first.
"""

import logging
import time
from collections import Counter
from decimal import Decimal
from typing import NamedTuple

import orjson

from apps.collectors.exchanges.bybit.protocol import KIRBY_INTERVALS, LINEAR
from apps.collectors.exchanges.events import (
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
    levels,
    text,
)
from apps.markets import intervals as kirby_intervals
from lib.metrics import MESSAGES_RECEIVED

log = logging.getLogger(__name__)

EXCHANGE = "bybit"
SAMPLE_EVERY_SECONDS = 10.0
TWO = Decimal(2)


class Rejected(MalformedFrame):
    """Well-formed but not for us: ``reason`` is what ``Parser.rejected`` counts it under."""

    def __init__(self, reason, message):
        super().__init__(message)
        self.reason = reason


class Ticker(NamedTuple):
    """A linear perpetual's merged ticker state (what its funding and open-interest events are made from)."""

    coin: str  # adapter name, linear:BTCUSDT
    funding_rate: Decimal
    next_funding_ms: int | None
    mark_price: Decimal | None
    index_price: Decimal | None
    open_interest: Decimal  # one side
    open_interest_both_sides: Decimal | None
    open_interest_value: Decimal | None  # both sides, in quote
    day_base_volume: Decimal | None
    day_notional_volume: Decimal | None

    def events(self):
        """Funding (with Bybit's own next funding time, mark and index) and one-side open interest."""
        return [
            FundingUpdate(self.coin, self.funding_rate, self.mark_price, self.index_price, self.next_funding_ms),
            OpenInterestUpdate(
                self.coin, self.open_interest, self.mark_price, self.day_base_volume, self.day_notional_volume
            ),
        ]


def ms(value, field, *, nullable=False):
    """Epoch milliseconds from an int (WebSocket) or a digit string (REST, tickers)."""
    if type(value) is int:
        return value
    if value is None or value == "":
        if nullable:
            return None
        raise MalformedFrame(f"{field} is missing")
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return integer(value, field)


def _reason(error):
    if isinstance(error, Rejected):
        return error.reason
    return "not_a_number" if "not a number" in str(error) or "not finite" in str(error) else "malformed"


class Parser:
    """Frames of one connection of ``category`` -> events; tickers merged per symbol.

    ``symbols`` (Bybit symbols) and ``intervals`` (Kirby intervals), when
    given, are what the connection subscribed: anything else is rejected.
    """

    def __init__(self, category=LINEAR, symbols=None, intervals=None):
        self.category = category
        self.symbols = None if symbols is None else set(symbols)
        self.intervals = None if intervals is None else set(intervals)
        self.snapshots = {}  # symbol -> merged ticker fields
        self.rejected = Counter()
        self._sampled_at = float("-inf")

    def feed(self, raw):
        """Events of one text frame; bad input is counted, sampled to the log and skipped ([])."""
        try:
            return self.parse(raw)
        except MalformedFrame as error:
            reason = _reason(error)
            self.rejected[reason] += 1
            MESSAGES_RECEIVED.labels(EXCHANGE, "malformed").inc()
            now = time.monotonic()
            if now - self._sampled_at >= SAMPLE_EVERY_SECONDS:
                self._sampled_at = now
                log.warning("bybit %s: skipped a frame (%s: %s): %.200s", self.category, reason, error, raw)
            return []

    def parse(self, raw):
        """Events of one text frame; raises MalformedFrame (or Rejected) for bad input."""
        try:
            message = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise Rejected("unparsable", "not JSON") from None
        if not isinstance(message, dict):
            raise Rejected("unparsable", f"not a JSON object but {type(message).__name__}")
        if "op" in message and "topic" not in message:
            return [_control(message)]
        topic = message.get("topic")
        if not isinstance(topic, str):
            raise MalformedFrame("neither a topic nor an op")
        kind, _, rest = topic.partition(".")
        if kind == "kline":
            return self._klines(rest, message.get("data"))
        if kind == "tickers":
            return self._ticker(rest, message.get("type"), message.get("data"))
        if kind == "publicTrade":
            name = self.name(text(rest, "topic symbol"))
            data = message.get("data")
            if not isinstance(data, list):
                raise MalformedFrame("publicTrade data is not a list")
            return [parse_trade(item, name) for item in data]
        if kind == "orderbook":
            depth, _, symbol = rest.partition(".")
            return [parse_book(message, self.name(text(symbol, "topic symbol")))]
        raise Rejected("unknown_topic", f"unknown topic {topic!r}")

    def name(self, symbol):
        if self.symbols is not None and symbol not in self.symbols:
            raise Rejected("unknown_symbol", f"symbol {symbol!r} is not subscribed here")
        return f"{self.category}:{symbol}"

    def _klines(self, rest, data):
        bybit_interval, _, symbol = rest.partition(".")
        interval = KIRBY_INTERVALS.get(bybit_interval)
        if interval is None:
            raise Rejected("unsubscribed_interval", f"Kirby has no interval for Bybit's {bybit_interval!r}")
        if self.intervals is not None and interval not in self.intervals:
            raise Rejected("unsubscribed_interval", f"{interval} klines were not subscribed")
        name = self.name(text(symbol, "topic symbol"))
        if not isinstance(data, list) or not data:
            raise MalformedFrame("kline data is not a non-empty list")
        return [kline_update(item, name, interval) for item in data]

    def _ticker(self, symbol, kind, data):
        name = self.name(text(symbol, "topic symbol"))
        if not isinstance(data, dict):
            raise MalformedFrame("tickers data is not an object")
        if kind == "snapshot":
            merged = dict(data)
        elif kind == "delta":
            if symbol not in self.snapshots:
                raise Rejected("delta_before_snapshot", f"a tickers delta for {symbol} before its snapshot")
            merged = {**self.snapshots[symbol], **data}
        else:
            raise MalformedFrame(f"tickers type is {kind!r}, not snapshot or delta")
        if "fundingRate" not in merged:  # spot (and a linear frame missing it) carries no asset context
            if self.category == LINEAR:
                raise MalformedFrame("a linear ticker without fundingRate")
            self.snapshots[symbol] = merged
            return []
        ticker = ticker_of(merged, name)  # validate before keeping: a bad delta must not poison the state
        self.snapshots[symbol] = merged
        return ticker.events()

    def ticker(self, symbol):
        """The merged state of ``symbol`` (with next funding time and both-sides OI), or None."""
        fields = self.snapshots.get(symbol)
        return None if fields is None or "fundingRate" not in fields else ticker_of(fields, self.name(symbol))


def connection_parser(endpoint, wanted=None):
    """The parse function of one connection to ``endpoint`` (a category): tickers deltas need its snapshots.

    Raises MalformedFrame for bad input (the stream counts and samples it);
    the stream checks symbols and intervals against its plan.
    """
    return Parser(endpoint).parse


def ticker_of(fields, name):
    both = decimal(fields.get("openInterest"), "openInterest")
    single = decimal(fields.get("singleOpenInterest") or None, "singleOpenInterest", nullable=True)
    return Ticker(
        coin=name,
        funding_rate=decimal(fields.get("fundingRate"), "fundingRate"),
        next_funding_ms=ms(fields.get("nextFundingTime"), "nextFundingTime", nullable=True),
        mark_price=decimal(fields.get("markPrice"), "markPrice", nullable=True),
        index_price=decimal(fields.get("indexPrice"), "indexPrice", nullable=True),
        open_interest=single if single is not None else both / TWO,
        open_interest_both_sides=both,
        open_interest_value=decimal(fields.get("openInterestValue"), "openInterestValue", nullable=True),
        day_base_volume=decimal(fields.get("volume24h"), "volume24h", nullable=True),
        day_notional_volume=decimal(fields.get("turnover24h"), "turnover24h", nullable=True),
    )


def kline_update(item, name, interval):
    if not isinstance(item, dict):
        raise MalformedFrame("kline item is not an object")
    closed = item.get("confirm")
    if not isinstance(closed, bool):
        raise MalformedFrame(f"confirm is not a boolean: {closed!r}")
    return CandleUpdate(
        coin=name,
        interval=interval,
        open_ms=ms(item.get("start"), "start"),
        close_ms=ms(item.get("end"), "end"),
        open=decimal(item.get("open"), "open"),
        high=decimal(item.get("high"), "high"),
        low=decimal(item.get("low"), "low"),
        close=decimal(item.get("close"), "close"),
        volume=decimal(item.get("volume"), "volume"),
        num_trades=None,  # Bybit does not count trades per candle
        closed=closed,
    )


SIDES = {"Buy": "buy", "Sell": "sell"}


def parse_trade(item, name):
    """One ``publicTrade`` item: ``i`` id, ``T`` ms, ``S`` taker side, ``p`` price, ``v`` size."""
    return _trade(item, name, "i", "T", "S", "p", "v")


def parse_trade_row(row, name):
    """One ``/v5/market/recent-trade`` row: the same trade under REST's names (``time`` a ms string)."""
    return _trade(row, name, "execId", "time", "side", "price", "size")


def _trade(item, name, id_field, time_field, side_field, price_field, size_field):
    if not isinstance(item, dict):
        raise MalformedFrame("trade is not an object")
    side = SIDES.get(item.get(side_field)) if type(item.get(side_field)) is str else None
    if side is None:
        raise MalformedFrame(f"trade side is not Buy or Sell: {item.get(side_field)!r}")
    price, size = decimal(item.get(price_field), price_field), decimal(item.get(size_field), size_field)
    if price <= 0 or size <= 0:
        raise MalformedFrame(f"trade with a price or size that is not positive: {price} x {size}")
    return TradeUpdate(
        coin=name,
        trade_id=text(item.get(id_field), id_field),
        price=price,
        size=size,
        side=side,
        time_us=ms(item.get(time_field), time_field) * 1000,
    )


def parse_book(message, name):
    """An ``orderbook`` frame -> BookSnapshot or BookDelta at update id ``u`` and time ``ts``."""
    data = message.get("data")
    if not isinstance(data, dict):
        raise MalformedFrame("orderbook data is not an object")
    update = integer(data.get("u"), "u")
    time_ms = ms(message.get("ts"), "ts")
    bids, asks = levels(data.get("b"), "b"), levels(data.get("a"), "a")
    kind = message.get("type")
    if kind == "snapshot":
        return BookSnapshot(name, time_ms, update, sorted(bids, reverse=True), sorted(asks))
    if kind == "delta":
        return BookDelta(name, time_ms, update, update, None, bids, asks)
    raise MalformedFrame(f"orderbook type is {kind!r}, not snapshot or delta")


def _control(message):
    op, success = message.get("op"), message.get("success")
    if op == "pong" or (op == "ping" and message.get("ret_msg") == "pong"):
        return Control("pong")
    if success is False:
        return Control("error", message.get("ret_msg"))
    if success is True and op in ("subscribe", "unsubscribe"):
        return Control("ack", message)
    raise MalformedFrame(f"unexpected op message {op!r}")


# --- REST answers -------------------------------------------------------------------------------


class FundingPoint(NamedTuple):
    coin: str
    time_ms: int
    funding_rate: Decimal
    premium: Decimal | None  # Bybit's history has none


class OpenInterestPoint(NamedTuple):
    coin: str
    time_ms: int
    open_interest: Decimal  # one side
    open_interest_both_sides: Decimal


def result_list(body):
    """The ``result.list`` of a successful REST answer; MalformedFrame otherwise."""
    if not isinstance(body, dict) or body.get("retCode") != 0:
        code = body.get("retCode") if isinstance(body, dict) else None
        raise MalformedFrame(f"retCode {code!r}: {body.get('retMsg') if isinstance(body, dict) else body!r}")
    result = body.get("result")
    rows = result.get("list") if isinstance(result, dict) else None
    if not isinstance(rows, list):
        raise MalformedFrame("result.list is not a list")
    return rows


def parse_kline_row(row, name, interval, now_ms):
    """``[startTime, open, high, low, close, volume, turnover]`` (strings); closed once its interval ended."""
    if not isinstance(row, list) or len(row) < 6:
        raise MalformedFrame(f"kline row is not an array of 7 values: {row!r}")
    open_ms = ms(row[0], "startTime")
    if not kirby_intervals.floor(interval, open_ms) == open_ms:
        raise MalformedFrame(f"startTime {open_ms} is not the open of a {interval} candle")
    close_ms = kirby_intervals.shift(interval, open_ms, 1) - 1
    return CandleUpdate(
        coin=name, interval=interval, open_ms=open_ms, close_ms=close_ms,
        open=decimal(row[1], "open"), high=decimal(row[2], "high"), low=decimal(row[3], "low"),
        close=decimal(row[4], "close"), volume=decimal(row[5], "volume"), num_trades=None, closed=close_ms < now_ms,
    )  # fmt: skip


def parse_funding_row(row, name):
    if not isinstance(row, dict):
        raise MalformedFrame("funding row is not an object")
    return FundingPoint(
        coin=name,
        time_ms=ms(row.get("fundingRateTimestamp"), "fundingRateTimestamp"),
        funding_rate=decimal(row.get("fundingRate"), "fundingRate"),
        premium=None,
    )


def parse_open_interest_row(row, name):
    if not isinstance(row, dict):
        raise MalformedFrame("open-interest row is not an object")
    both = decimal(row.get("openInterest"), "openInterest")
    single = decimal(row.get("singleOpenInterest") or None, "singleOpenInterest", nullable=True)
    return OpenInterestPoint(
        coin=name,
        time_ms=ms(row.get("timestamp"), "timestamp"),
        open_interest=single if single is not None else both / TWO,
        open_interest_both_sides=both,
    )
