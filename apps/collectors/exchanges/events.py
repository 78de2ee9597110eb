"""Exchange-level events an adapter's parser produces from raw frames.

They still speak the exchange's language (coin names, exchange intervals,
exchange timestamps); the stream maps them onto Kirby's starlistings and
trading pairs. Numbers are exact ``Decimal``s; times are epoch milliseconds.
"""

from decimal import Decimal, InvalidOperation
from typing import NamedTuple

import orjson

from lib.metrics import MESSAGES_RECEIVED


class MalformedFrame(ValueError):
    """A frame that does not have the shape the exchange documents."""


class RateLimited(Exception):
    """The exchange asked us to slow down (a 429, Binance's 418, Bybit's codes); ``retry_after`` in seconds if said."""

    def __init__(self, retry_after=None):
        self.retry_after = retry_after
        super().__init__(f"rate limited (retry after {retry_after} s)")


class HistoryError(Exception):
    """A REST history answer that cannot be used."""


# The fast paths' constructor of the busiest events: a NamedTuple's own is a Python function, this the C one
# (every field given, in order: ``new_event(TradeUpdate, (coin, trade_id, ...))``), at half the cost.
new_event = tuple.__new__
# A Decimal compares with a Decimal at half the cost of comparing with an int.
ZERO = Decimal(0)


def json_object(raw):
    """The JSON object a frame holds; MalformedFrame when it is not JSON or not an object."""
    try:
        message = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise MalformedFrame("not JSON") from None
    if not isinstance(message, dict):
        raise MalformedFrame(f"not a JSON object but {type(message).__name__}")
    return message


class CandleUpdate(NamedTuple):
    coin: str
    interval: str
    open_ms: int
    close_ms: int  # last millisecond of the interval (open of the next one - 1)
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    num_trades: int | None
    closed: bool | None  # None: the exchange does not say


class AssetContext(NamedTuple):
    """Funding and open interest state of a perpetual, as of when it was received."""

    coin: str
    funding_rate: Decimal
    open_interest: Decimal
    mark_price: Decimal | None
    oracle_price: Decimal | None
    mid_price: Decimal | None
    premium: Decimal | None
    day_base_volume: Decimal | None
    day_notional_volume: Decimal | None


class FundingUpdate(NamedTuple):
    """Funding state of a perpetual from an exchange that sends it apart from open interest (Binance markPrice)."""

    coin: str
    funding_rate: Decimal
    mark_price: Decimal | None
    index_price: Decimal | None
    next_funding_ms: int | None


class OpenInterestUpdate(NamedTuple):
    """Open interest of a perpetual apart from funding (a REST poll, a Bybit ticker); the stream adds the latest mark
    price it knows when the update has none."""

    coin: str
    open_interest: Decimal
    mark_price: Decimal | None = None
    day_base_volume: Decimal | None = None
    day_notional_volume: Decimal | None = None


class MarkPrice(NamedTuple):
    """A perpetual's mark price alone (OKX's mark-price channel): what open interest's notional value is made of."""

    coin: str
    mark_price: Decimal


class Control(NamedTuple):
    """Acks, pongs, greetings and exchange error notices: not market data."""

    kind: str  # "ack", "pong", "greeting", "error", "resync" (messages were lost: reconnect and repair)
    detail: object = None


def decimal(value, field, *, nullable=False):
    """Exact decimal from an exchange string (or int); refuse floats' neighbours NaN and infinity."""
    if type(value) is str:  # the common case, first: five of these per candle update
        try:
            number = Decimal(value)
        except InvalidOperation:
            raise MalformedFrame(f"{field} is not a number: {value!r}") from None
        if number.is_finite():
            return number
        raise MalformedFrame(f"{field} is not finite: {value!r}")
    if value is None:
        if nullable:
            return None
        raise MalformedFrame(f"{field} is missing")
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise MalformedFrame(f"{field} is not a number: {value!r}")
    try:
        # Floats only appear if an exchange sends a JSON number; repr is its shortest exact spelling.
        number = Decimal(repr(value) if isinstance(value, float) else value)
    except InvalidOperation:
        raise MalformedFrame(f"{field} is not a number: {value!r}") from None
    if not number.is_finite():
        raise MalformedFrame(f"{field} is not finite: {value!r}")
    return number


def integer(value, field, *, nullable=False):
    if value is None and nullable:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise MalformedFrame(f"{field} is not an integer: {value!r}")
    return value


def text(value, field):
    if not isinstance(value, str) or not value:
        raise MalformedFrame(f"{field} is not a non-empty string: {value!r}")
    return value


def kline_update(data, coin, closed):
    """A CandleUpdate from the one-letter kline fields Hyperliquid and Binance both use.

    ``t``/``T`` open and close time (ms), ``o h l c v`` prices and base volume,
    ``n`` trade count (may be null), ``i`` the interval.
    """
    get = data.get
    # CandleUpdate's fields in order (new_event: a flood of candle pushes makes tens of thousands a second)
    return new_event(
        CandleUpdate,
        (
            coin,
            text(get("i"), "i"),
            integer(get("t"), "t"),
            integer(get("T"), "T"),
            decimal(get("o"), "o"),
            decimal(get("h"), "h"),
            decimal(get("l"), "l"),
            decimal(get("c"), "c"),
            decimal(get("v"), "v"),
            integer(get("n"), "n", nullable=True),
            closed,
        ),
    )


class BuiltCandle(NamedTuple):
    """A candle Kirby built from trades, not one the exchange published.

    ``update.closed`` says the builder will take no more trades for it;
    ``complete`` says the connection saw every trade of its interval (false
    for the interval a connection started in). Before a closed one is
    stored as final it is checked against the exchange's REST candles
    (apps.collectors.reconcile).
    """

    update: CandleUpdate
    complete: bool

    @property
    def coin(self):
        return self.update.coin

    @property
    def interval(self):
        return self.update.interval


class TradeUpdate(NamedTuple):
    """One trade as the venue published it; ``side`` is the taker's (buy or sell)."""

    coin: str
    trade_id: str  # text: integers on some venues, strings on others
    price: Decimal
    size: Decimal
    side: str
    time_us: int  # microseconds: some venues publish finer than milliseconds


class BookSnapshot(NamedTuple):
    """A whole book (a venue's snapshot or a REST depth answer); levels are (price, size), best first."""

    coin: str
    time_ms: int | None
    sequence: int | None  # the venue's id of the book's state (Binance lastUpdateId); None when it has none
    bids: list
    asks: list


class BookDelta(NamedTuple):
    """Changed levels of a book, with the venue's sequence fields; size 0 removes the level."""

    coin: str
    time_ms: int
    first: int  # first update id in the event (Binance U)
    last: int  # last update id in the event (Binance u)
    previous: int | None  # the last id of the event before (Binance USD-M pu); None when the venue has none
    bids: list
    asks: list


class _Checked(dict):
    """Exchange number text -> its Decimal, for text that passed the level checks (finite, not negative, and
    for prices not zero).

    Prices repeat (a book moves around a few hundred ticks) and sizes often do: a hit costs one dict
    lookup instead of a Decimal parse and three checks. Bounded: cleared when full, so a wandering
    market costs a re-parse, never unbounded memory. Text that fails is never stored; the lookup
    raises and the caller checks that level again to say what is wrong.
    """

    LIMIT = 50_000  # about 10 MiB each when full

    def __init__(self, positive):
        super().__init__()
        self.positive = positive

    def __missing__(self, key):
        if type(key) is not str:  # JSON numbers and the rest: the careful path decides
            raise KeyError(key)
        number = Decimal(key)  # InvalidOperation on anything that is not a number
        if not number.is_finite() or number < 0 or (self.positive and not number):
            raise KeyError(key)
        if len(self) >= self.LIMIT:
            self.clear()
        self[key] = number
        return number


# Public for parsers whose levels are not [price, size] lists (Coinbase): a lookup that returns is a
# checked number; one that raises (KeyError, TypeError, InvalidOperation) goes to ``level``.
CHECKED_PRICES, CHECKED_SIZES = _PRICES, _SIZES = _Checked(positive=True), _Checked(positive=False)


def levels(value, field):
    """[[price, size], ...] as (Decimal, Decimal) pairs; a negative size or price is malformed, never applied."""
    if type(value) is list:
        # The common case, checked to the same rules in one pass: a busy book sends some 200,000 levels a
        # second and this was the stream's largest cost. Levels that are not lists are left out by the
        # filter and caught by the count; a bad number raises from the lookup; both go the careful way.
        try:
            pairs = [(_PRICES[level[0]], _SIZES[level[1]]) for level in value if type(level) is list]
        except (KeyError, IndexError, TypeError, InvalidOperation):
            pass
        else:
            if len(pairs) == len(value):
                return pairs
    return _careful_levels(value, field)


def level(price, size, field):
    """One level's (Decimal price, Decimal size) from its two values, to the rules of ``levels``."""
    try:
        return _PRICES[price], _SIZES[size]
    except (KeyError, TypeError, InvalidOperation):
        return _careful_levels([[price, size]], field)[0]


def _careful_levels(value, field):
    """``levels`` one level at a time, with the checks that name what is wrong (or accept a JSON number)."""
    if not isinstance(value, list):
        raise MalformedFrame(f"{field} is not a list of levels")
    pairs = []
    for level in value:
        if not isinstance(level, list | tuple) or len(level) < 2:
            raise MalformedFrame(f"{field} holds a level that is not [price, size]: {level!r}")
        price, size = decimal(level[0], f"{field} price"), decimal(level[1], f"{field} size")
        if price <= 0 or size < 0:
            raise MalformedFrame(f"{field} holds a level with a negative price or size: {level!r}")
        pairs.append((price, size))
    return pairs


def _event_time(item):
    return item.open_ms if isinstance(item, CandleUpdate) else item.time_ms


def ascending(exchange, items, low, high, skipped):
    """A newest-first history page -> ascending, unique, within [low, high); the rest go to ``skipped``
    and are counted as malformed messages of ``exchange``."""
    kept = []
    for item in reversed(items):
        if not low <= _event_time(item) < high or (kept and _event_time(item) <= _event_time(kept[-1])):
            skipped.append(item)
            MESSAGES_RECEIVED.labels(exchange, "malformed").inc()
            continue
        kept.append(item)
    return kept
