"""Coinbase frames and REST candles -> events, and the candles Kirby builds from trades.

Every WebSocket message has the envelope ``{"channel", "client_id",
"timestamp", "sequence_num", "events": [...]}``; ``subscriptions`` acks,
``heartbeats`` (``heartbeat_counter`` a number in captures, a string in the
docs: both accepted), ``market_trades`` (``events[].type`` ``snapshot``
then ``update``, each with ``trades[]`` of ``{trade_id, product_id, price,
size, side, time}``) and ``l2_data`` (``events[]`` of ``{type: snapshot |
update, product_id, updates: [{side: bid | offer, event_time, price_level,
new_quantity}]}``, the quantity absolute, ``"0"`` removing the level) are
understood; ``candles`` and ``ticker`` are valid but not collected; an error
message (``{"type": "error", "message"}``) is a Control. Times are RFC 3339
with up to nanoseconds; prices and sizes exact decimal strings. REST candles
are ``{"start" (unix seconds), "low", "high", "open", "close", "volume"}``,
all strings.

Trade side: Coinbase documents ``side`` as the maker order's side in its
Exchange feed and says nothing for Advanced Trade, which runs on the same
matching engine; Kirby reads it as the maker's, as documented there, and
stores the taker's side, the opposite (``TAKER_SIDE``; README, "Trade side").

``parse_frame`` is stateless. ``TradeCandles`` is the per-connection state
the live stream uses instead (``connection_parser``): it checks that
``sequence_num`` grows by one per message (a jump breaks every book of the
connection, with a delta that does not chain, and asks the stream to
reconnect and repair), folds every ``update`` trade into the open candle of
each planned interval (open = first trade by time, close = last, exact
sums), and closes a candle once a message stamped later than its interval's
end plus the grace has arrived: Coinbase sends messages in order, so no
trade for it can follow. A trade for a candle already closed is counted as
late and dropped. Snapshot trades happened before the subscription and are
not used for candles: the candle a connection starts in is marked
incomplete, and the REST check settles it. Every trade, snapshot ones too,
is a TradeUpdate for products whose trades are collected: the snapshot
replays trades a reconnecting connection may have missed, and the write
path stores each (pair, time, trade id) once.

Book deltas carry the connection's ``sequence_num`` as their id and the
number of the message before as ``previous``: coinbase/book.py applies a
delta only when nothing was lost in between.
"""

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

import orjson

from apps.collectors.exchanges.coinbase import protocol
from apps.collectors.exchanges.events import (
    CHECKED_PRICES,
    CHECKED_SIZES,
    BookDelta,
    BookSnapshot,
    BuiltCandle,
    CandleUpdate,
    Control,
    MalformedFrame,
    TradeUpdate,
    decimal,
    json_object,
    level,
    new_event,
    text,
)
from apps.markets import intervals as kirby_intervals
from lib.metrics import LATE_TRADES

EXCHANGE = "coinbase"
IGNORED_CHANNELS = ("candles", "ticker", "ticker_batch", "level2", "status")
# The wire's side is the maker's (see the module docstring); the taker took the other side.
TAKER_SIDE = {"BUY": "sell", "SELL": "buy"}
BOOK_SIDES = ("bid", "offer")

# A fraction of fewer than six digits, scaled to microseconds ("6" is 600000).
_SCALE = {n: 10 ** (6 - n) for n in range(1, 6)}
_SECONDS = {}  # "2025-10-27T16:44:39" -> epoch microseconds: a stream's times share their seconds
_SECONDS_KEPT = 4096


def _NOTHING():
    return ()


def _second_us(prefix):
    """``2025-10-27T16:44:39`` -> epoch microseconds."""
    second = _SECONDS.get(prefix)
    if second is not None:
        return second
    if len(prefix) != 19 or prefix[10] != "T" or not prefix[17:].isdigit() or not prefix.isascii():
        raise MalformedFrame(f"not an RFC 3339 time: {prefix!r}")
    try:
        moment = datetime.strptime(prefix[:16], "%Y-%m-%dT%H:%M")
    except ValueError:
        raise MalformedFrame(f"not an RFC 3339 time: {prefix!r}") from None
    if len(_SECONDS) >= _SECONDS_KEPT:
        _SECONDS.clear()
    second = _SECONDS[prefix] = (int(moment.replace(tzinfo=UTC).timestamp()) + int(prefix[17:])) * 1_000_000
    return second


def time_us(value, field):
    """``2025-10-27T16:44:39.600153Z`` (fraction optional, up to nanoseconds, UTC) -> epoch microseconds."""
    # The common case first, a second already seen and six digits (every trade time): one lookup, no calls.
    try:
        second = _SECONDS[value[:19]]
    except (KeyError, TypeError):
        second = None
    if second is not None and len(value) == 27 and value[19] == "." and value[26] == "Z":
        digits = value[20:26]
        if digits.isascii() and digits.isdigit():
            return second + int(digits)
    if type(value) is not str or len(value) < 20 or value[-1] != "Z":
        raise MalformedFrame(f"{field} is not an RFC 3339 UTC time: {value!r}")
    if len(value) == 20:
        return _second_us(value[:19])
    digits = value[20:-1]
    if value[19] != "." or not digits.isdigit() or not digits.isascii():
        raise MalformedFrame(f"{field} is not an RFC 3339 UTC time: {value!r}")
    return _second_us(value[:19]) + (int(digits[:6]) * _SCALE[len(digits)] if len(digits) < 6 else int(digits[:6]))


def _number(value, field):
    """An exact decimal from a Coinbase decimal string (the only form Coinbase sends numbers in)."""
    if type(value) is str:
        try:
            number = Decimal(value)
        except InvalidOperation:
            number = None
        if number is not None and number.is_finite():
            return number
    return decimal(value, field)  # anything else: refused with the shared messages


def _trade(item):
    if type(item) is not dict:
        raise MalformedFrame("trade is not an object")
    get = item.get
    trade_id, product = get("trade_id"), get("product_id")
    # The checks of ``text`` inline: this runs once per trade, at tens of thousands a second.
    if type(trade_id) is not str or not trade_id:
        text(trade_id, "trade_id")
    price, size = get("price"), get("size")
    # _number's checks inline for the usual trade, two decimal strings in range; anything else takes the long way.
    try:
        ok = type(price) is str and type(size) is str
        price, size = Decimal(price), Decimal(size)
        ok = ok and price.is_finite() and size.is_finite() and price > 0 and size >= 0
    except (InvalidOperation, TypeError, ValueError):
        ok = False
    if not ok:
        price, size = _number(get("price"), "price"), _number(get("size"), "size")
        if price <= 0 or size < 0:
            raise MalformedFrame(f"trade {trade_id}: price {price} or size {size} out of range")
    if type(product) is not str or not product:
        text(product, "product_id")
    side = TAKER_SIDE.get(get("side")) if type(get("side")) is str else None
    if side is None:
        raise MalformedFrame(f"trade {trade_id}: side is not BUY or SELL: {get('side')!r}")
    return new_event(TradeUpdate, (product, trade_id, price, size, side, time_us(get("time"), "time")))


def _envelope(message):
    sequence = message.get("sequence_num")
    if type(sequence) is not int:
        raise MalformedFrame(f"sequence_num is not an integer: {sequence!r}")
    events = message.get("events")
    if type(events) is not list:
        raise MalformedFrame("events is not a list")
    return sequence, time_us(message.get("timestamp"), "timestamp"), events


def _split_trades(events):
    """(snapshot trades, update trades, whether a snapshot event came) of a market_trades message's events."""
    snapshot, updates, saw_snapshot = [], [], False
    for event in events:
        if type(event) is not dict or type(trades := event.get("trades")) is not list:
            raise MalformedFrame("market_trades event without a trades list")
        kind = event.get("type")
        if kind == "update":
            updates += [_trade(item) for item in trades]
        elif kind == "snapshot":
            saw_snapshot = True
            snapshot += [_trade(item) for item in trades]
        else:
            raise MalformedFrame(f"market_trades event type {kind!r}")
    return snapshot, updates, saw_snapshot


def trade_events(events):
    """(snapshot trades, update trades) of a market_trades message's events."""
    snapshot, updates, _ = _split_trades(events)
    return snapshot, updates


def _book_levels(updates):
    """(bids, asks) of an l2_data event's updates, as (price, size) in the order sent."""
    if type(updates) is not list:
        raise MalformedFrame("l2_data event without an updates list")
    bids, asks = [], []
    prices, sizes = CHECKED_PRICES, CHECKED_SIZES
    for item in updates:
        if type(item) is not dict:
            raise MalformedFrame("l2_data update is not an object")
        get = item.get
        side = get("side")
        try:  # a price and size text checked before (most of them): two lookups
            price, size = prices[get("price_level")], sizes[get("new_quantity")]
        except (KeyError, TypeError, InvalidOperation):
            price, size = level(get("price_level"), get("new_quantity"), "l2_data")
        if side == "bid":
            bids.append((price, size))
        elif side == "offer":
            asks.append((price, size))
        else:
            raise MalformedFrame(f"l2_data side is not bid or offer: {side!r}")
    return bids, asks


def book_events(events, sequence, previous, time_ms):
    """BookSnapshot / BookDelta of an l2_data message's events; a snapshot's levels sorted best first."""
    out = []
    for event in events:
        if type(event) is not dict:
            raise MalformedFrame("l2_data event is not an object")
        product = event.get("product_id")
        if type(product) is not str or not product:
            text(product, "product_id")
        bids, asks = _book_levels(event.get("updates"))
        kind = event.get("type")
        if kind == "snapshot":
            bids.sort(reverse=True)
            asks.sort()
            out.append(BookSnapshot(product, time_ms, sequence, bids, asks))
        elif kind == "update":
            out.append(BookDelta(product, time_ms, sequence, sequence, previous, bids, asks))
        else:
            raise MalformedFrame(f"l2_data event type {kind!r}")
    return out


def _heartbeat(events):
    for event in events:
        counter = event.get("heartbeat_counter") if isinstance(event, dict) else None
        if isinstance(counter, bool) or not (
            isinstance(counter, int) or (isinstance(counter, str) and counter.isdigit())
        ):
            raise MalformedFrame(f"heartbeat_counter is not a number: {counter!r}")


def parse_message(raw):
    """(channel, sequence_num, timestamp_us, events) of one frame; Control for errors; MalformedFrame otherwise."""
    message = json_object(raw)
    if message.get("type") == "error":
        return Control("error", message.get("message"))
    channel = message.get("channel")
    if type(channel) is not str:
        raise MalformedFrame("no channel")
    sequence, stamp, events = _envelope(message)
    return channel, sequence, stamp, events


def parse_frame(raw, endpoint=""):
    """Events of one frame, without connection state: TradeUpdate for every trade, the book's events, Control.

    Without the connection's earlier messages a delta is assumed to follow the message numbered one before.
    """
    parsed = parse_message(raw)
    if isinstance(parsed, Control):
        return [parsed]
    channel, sequence, stamp_us, events = parsed
    if channel == "subscriptions":
        return [Control("ack", events)]
    if channel == protocol.HEARTBEATS_CHANNEL:
        _heartbeat(events)
        return []
    if channel == protocol.TRADES_CHANNEL:
        snapshot, updates = trade_events(events)
        return snapshot + updates
    if channel == protocol.BOOK_DATA_CHANNEL:
        return book_events(events, sequence, sequence - 1, stamp_us // 1000)
    if channel in IGNORED_CHANNELS:
        return []
    raise MalformedFrame(f"unknown channel {channel!r}")


def _order(trade):
    # Trade ids are decimal counters: by length first, so that "10" follows "9".
    return trade.time_us, len(trade.trade_id), trade.trade_id


class _Building:
    # ``last`` is the newest trade, its order key (_order) made only when a trade does not simply follow it.
    __slots__ = ("open_ms", "close_ms", "first", "last", "last_us", "open", "high", "low", "close", "volume", "trades",
                 "complete")  # fmt: skip

    def __init__(self, open_ms, close_ms, trade, complete):
        self.open_ms, self.close_ms, self.complete = open_ms, close_ms, complete
        self.first = _order(trade)
        self.last, self.last_us = trade, trade.time_us
        self.open = self.high = self.low = self.close = trade.price
        self.volume, self.trades = trade.size, 1

    def add(self, trade):
        price = trade.price
        if trade.time_us > self.last_us:  # the usual case, trades in order: the new close, and not the open
            self.last, self.last_us, self.close = trade, trade.time_us, price
        else:
            key = _order(trade)
            if key < self.first:
                self.first, self.open = key, price
            if key > _order(self.last):
                self.last, self.last_us, self.close = trade, trade.time_us, price
        if price > self.high:
            self.high = price
        elif price < self.low:
            self.low = price
        self.volume += trade.size
        self.trades += 1

    def built(self, coin, interval, closed):
        """The BuiltCandle of this candle's state now."""
        update = new_event(CandleUpdate, (coin, interval, self.open_ms, self.close_ms, self.open, self.high, self.low,
                                     self.close, self.volume, self.trades, closed))  # fmt: skip
        return new_event(BuiltCandle, (update, self.complete))


class TradeCandles:
    """One connection's frames -> BuiltCandle events for the planned (product, interval) series, TradeUpdate for
    the products whose trades are collected, and the books' snapshots and deltas.

    ``wanted()`` returns the current plan's candle series (a mapping or set
    of ``(product_id, interval)``); it is read again whenever it changes.
    ``trades()`` returns the products whose trades are stored (none when not given), ``books()`` those whose
    books are kept: a new connection's first message breaks each of them (a delta without ``previous``) until
    its snapshot on this connection comes.
    """

    def __init__(self, wanted, grace_ms=None, trades=None, books=None):
        self.wanted = wanted
        self.trades = trades or _NOTHING
        self.book_products = books or _NOTHING
        self.grace_ms = protocol.close_grace_ms() if grace_ms is None else grace_ms
        self.sequence = None
        self.since_us = {}  # product -> server time of its snapshot: later intervals are complete
        self.first_snapshot_us = None  # for products whose snapshot held no trades
        self.building = {}  # (product, interval) -> {open_ms: _Building}
        self._current = {}  # (product, interval) -> the building candle its latest trade went to
        self.closed_through = {}  # (product, interval) -> open time of the newest closed candle
        self.books = set()  # products whose book snapshot came on this connection
        self.late = 0
        self._plan, self._series = None, {}
        self._next_close_us = None

    def _all_series(self):
        """product -> [((product, interval), interval)] the plan builds candles of."""
        plan = self.wanted()
        if plan is not self._plan:
            self._plan, self._series = plan, {}
            for coin, interval in plan:
                self._series.setdefault(coin, []).append(((coin, interval), interval))
        return self._series

    def _series_of(self, product):
        return self._all_series().get(product, ())

    def _intervals_of(self, product):
        return [interval for _, interval in self._series_of(product)]

    def feed(self, raw):
        try:
            message = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise MalformedFrame("not JSON") from None
        if type(message) is not dict:
            raise MalformedFrame(f"not a JSON object but {type(message).__name__}")
        get = message.get
        sequence, events = get("sequence_num"), get("events")
        if (
            get("channel") == protocol.TRADES_CHANNEL
            and type(events) is list
            and len(events) == 1
            and type(event := events[0]) is dict
            and event.get("type") == "update"
            and type(items := event.get("trades")) is list
            and type(sequence) is int
            and self.sequence is not None
            and sequence == self.sequence + 1
            and get("type") != "error"
        ):
            # The usual message, the next one of one batch of new trades: the checks _message makes, in one go.
            stamp_us = time_us(get("timestamp"), "timestamp")
            self.sequence = sequence
            updates = [_trade(items[0])] if len(items) == 1 else [_trade(item) for item in items]
            stored = self.trades()
            out = [trade for trade in updates if trade.coin in stored] if stored else []
            out += self._fold(updates)
            if self._next_close_us is not None and stamp_us >= self._next_close_us:
                out.extend(self._close(stamp_us))
            return out
        if message.get("type") == "error":
            return [Control("error", message.get("message"))]
        channel = message.get("channel")
        if type(channel) is not str:
            raise MalformedFrame("no channel")
        sequence = message.get("sequence_num")
        if type(sequence) is not int:
            raise MalformedFrame(f"sequence_num is not an integer: {sequence!r}")
        events = message.get("events")
        if type(events) is not list:
            raise MalformedFrame("events is not a list")
        stamp_us = time_us(message.get("timestamp"), "timestamp")
        previous, self.sequence = self.sequence, sequence
        if previous is None and (books := self.book_products()):
            # A new connection: what the books missed since the last one is unknown until their new snapshots.
            restart = [BookDelta(product, stamp_us // 1000, sequence, sequence, None, [], []) for product in books]
            return [*restart, *self._message(channel, sequence, previous, stamp_us, events)]
        return self._message(channel, sequence, previous, stamp_us, events)

    def _message(self, channel, sequence, previous, stamp_us, events):
        if previous is not None and sequence != previous + 1:
            # Every book of the connection missed what was lost: a delta that does not chain breaks it.
            lost = [
                BookDelta(product, stamp_us // 1000, sequence, sequence, previous, [], []) for product in self.books
            ]
            self.books.clear()
            return [*lost, Control("resync", f"sequence_num {sequence} after {previous}: messages were lost")]
        if channel == protocol.TRADES_CHANNEL:
            event = events[0] if len(events) == 1 else None
            if type(event) is dict and event.get("type") == "update" and type(items := event.get("trades")) is list:
                # The usual message: one batch of new trades.
                updates = [_trade(item) for item in items]
                stored = self.trades()
                out = [trade for trade in updates if trade.coin in stored] if stored else []
                out += self._fold(updates)
            else:
                out = self._trades(events, stamp_us)
        elif channel == protocol.BOOK_DATA_CHANNEL:
            out = book_events(events, sequence, previous, stamp_us // 1000)
            self.books.update(event.coin for event in out if type(event) is BookSnapshot)
        elif channel == protocol.HEARTBEATS_CHANNEL:
            _heartbeat(events)
            out = []
        elif channel == "subscriptions":
            out = [Control("ack", events)]
        elif channel in IGNORED_CHANNELS:
            out = []
        else:
            raise MalformedFrame(f"unknown channel {channel!r}")
        if self._next_close_us is not None and stamp_us >= self._next_close_us:
            out.extend(self._close(stamp_us))
        return out

    def _trades(self, events, stamp_us):
        snapshot, updates, saw_snapshot = _split_trades(events)
        if saw_snapshot:
            if self.first_snapshot_us is None:
                self.first_snapshot_us = stamp_us
            for trade in snapshot:
                self.since_us.setdefault(trade.coin, stamp_us)
        stored = self.trades()
        out = [trade for trade in snapshot if trade.coin in stored] if stored else []
        if stored:
            out += [trade for trade in updates if trade.coin in stored]
        if updates:
            out += self._fold(updates)
        return out

    def _fold(self, trades):
        """Fold ``trades`` into their candles: one BuiltCandle per candle they changed, with its newest state.

        Only the newest state of an open candle is stored, so one per message and candle is all the stream needs.
        """
        series = self._series if self.wanted() is self._plan else self._all_series()
        if len(trades) == 1:  # the usual message: each series' candle changes once, no record of what was touched
            return [candle.built(key[0], key[1], False) for key, candle in self._fold_one(trades[0], series)]
        touched = {}
        for trade in trades:
            for key, candle in self._fold_one(trade, series):
                touched[key, candle.open_ms] = candle
        return [candle.built(key[0], key[1], False) for (key, _), candle in touched.items()]

    def _fold_one(self, trade, series):
        """Fold one trade into the candle of each series of its product: [(series key, candle)]; a trade for a
        closed candle of any series is counted late once."""
        current, t_ms, out, late = self._current, trade.time_us // 1000, [], False
        for key, interval in series.get(trade.coin, ()):
            # Most trades fall in the candle the previous trade of the series fell in: no interval arithmetic.
            candle = current.get(key)
            if candle is not None and candle.open_ms <= t_ms <= candle.close_ms:
                candle.add(trade)
            elif (candle := self._place(key, interval, trade, t_ms)) is None:
                late = True
                continue
            out.append((key, candle))
        if late:
            self._late()
        return out

    def _place(self, key, interval, trade, t_ms):
        """The candle of series ``key`` that ``trade`` (at ``t_ms``) now belongs to, added; None when it is late."""
        open_ms = kirby_intervals.floor(interval, t_ms)
        closed = self.closed_through.get(key)
        if closed is not None and open_ms <= closed:
            return None
        open_candles = self.building.setdefault(key, {})
        candle = open_candles.get(open_ms)
        if candle is None:
            close_ms = kirby_intervals.shift(interval, open_ms, 1) - 1
            since = self.since_us.get(trade.coin, self.first_snapshot_us)
            complete = since is not None and open_ms * 1000 > since
            candle = open_candles[open_ms] = _Building(open_ms, close_ms, trade, complete)
            deadline = (close_ms + 1 + self.grace_ms) * 1000
            if self._next_close_us is None or deadline < self._next_close_us:
                self._next_close_us = deadline
        else:
            candle.add(trade)
        self._current[key] = candle
        return candle

    def _late(self):
        # Once per trade, however many of its intervals were closed.
        self.late += 1
        LATE_TRADES.labels(EXCHANGE).inc()

    def _close(self, stamp_us):
        out, next_close = [], None
        for key, open_candles in self.building.items():
            for open_ms in sorted(open_candles):
                candle = open_candles[open_ms]
                deadline = (candle.close_ms + 1 + self.grace_ms) * 1000
                if deadline <= stamp_us:
                    del open_candles[open_ms]
                    if self._current.get(key) is candle:
                        del self._current[key]
                    self.closed_through[key] = max(open_ms, self.closed_through.get(key, open_ms))
                    if key[1] in self._intervals_of(key[0]):  # a series the plan has dropped meanwhile: forgotten
                        out.append(candle.built(key[0], key[1], True))
                elif next_close is None or deadline < next_close:
                    next_close = deadline
        self._next_close_us = next_close
        return out


def connection_parser(endpoint, wanted, plan=None):
    """The per-connection parser the live stream feeds (see TradeCandles); raises MalformedFrame for bad input.

    ``plan()`` gives the stream's current plan: its ``trades`` say which products' trades are stored, its
    ``books`` which books are kept.
    """
    if plan is None:
        return TradeCandles(wanted).feed
    return TradeCandles(wanted, trades=lambda: plan().trades, books=lambda: plan().books).feed


# --- REST answers -------------------------------------------------------------------------------


def candle_rows(body):
    if not isinstance(body, dict) or not isinstance(body.get("candles"), list):
        raise MalformedFrame("the answer has no candles list")
    return body["candles"]


def parse_candle_row(row, product, interval, now_ms):
    """One REST candle (``start`` in unix seconds, strings); closed once its interval ended before ``now_ms``."""
    if not isinstance(row, dict):
        raise MalformedFrame("candle is not an object")
    start = row.get("start")
    if not isinstance(start, str) or not start.isdigit():
        raise MalformedFrame(f"start is not unix seconds: {start!r}")
    open_ms = int(start) * 1000
    if kirby_intervals.floor(interval, open_ms) != open_ms:
        raise MalformedFrame(f"start {start} is not the open of a {interval} candle")
    close_ms = kirby_intervals.shift(interval, open_ms, 1) - 1
    return CandleUpdate(
        coin=product, interval=interval, open_ms=open_ms, close_ms=close_ms,
        open=decimal(row.get("open"), "open"), high=decimal(row.get("high"), "high"),
        low=decimal(row.get("low"), "low"), close=decimal(row.get("close"), "close"),
        volume=decimal(row.get("volume"), "volume"), num_trades=None, closed=close_ms < now_ms,
    )  # fmt: skip
