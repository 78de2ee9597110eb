"""OKX V5 frames and REST answers -> events.

WebSocket pushes are ``{"arg": {"channel", "instId"}, "data": [...]}``:

- ``candle{bar}`` (business endpoint): rows of nine strings ``[ts, o, h, l,
  c, vol, volCcy, volCcyQuote, confirm]``, ``confirm`` ``"0"`` while the
  candle is open (it is pushed again and again) and ``"1"`` once closed.
  ``vol`` counts contracts on swaps and the base coin on spot; ``volCcy`` is
  the base coin on swaps (the quote on spot), so Kirby's base volume is
  ``volCcy`` for a swap and ``vol`` for spot.
- ``funding-rate``: ``fundingRate`` (the rate of the coming settlement,
  absent from some pushes, which then carry nothing Kirby stores) and
  ``fundingTime`` (that settlement's time).
- ``open-interest``: ``oi`` in contracts and ``oiCcy`` in the coin; Kirby
  stores ``oiCcy`` (one side, as every venue's).
- ``mark-price``: ``markPx``, which makes open interest's notional value.
- ``trades``: ``{instId, tradeId, px, sz, side, ts}`` per taker order -> TradeUpdate.
- ``books`` (public endpoint): ``action`` ``snapshot`` (the whole book, ``prevSeqId`` -1) then
  ``update`` (changed levels, a size ``"0"`` deletes), levels ``[px, sz, "0", orders]``; each
  update's ``prevSeqId`` is the ``seqId`` before it (equal to its own when nothing changed). A
  snapshot is a BookSnapshot with ``sequence`` = ``seqId``, an update a BookDelta with
  ``first`` = ``last`` = ``seqId`` and ``previous`` = ``prevSeqId`` (both None in recordings from
  before OKX added them). ``checksum`` is not checked: it is always 0 since 2026-06-23.
- Swap sizes (trades and books) count contracts: they become coin amounts (x the instrument's
  ``ctVal``, okx.contracts, exact); one of a swap whose ``ctVal`` is not known is malformed.
- ``books5``, ``books-l2-tbt``, ``bbo-tbt``, ``tickers``: valid, not collected.

Control: ``{"event": "subscribe"|"unsubscribe", "arg"}`` acks, ``{"event":
"error", "code", "msg"}``, ``{"event": "notice"}`` (a coming disconnect) and
the text ``pong``. Every time is epoch milliseconds as a digit string. Bad
input raises MalformedFrame; the stream counts it, samples it and skips it.

REST answers are ``{"code": "0", "msg", "data": [...]}``, newest first.
"""

from decimal import Decimal
from typing import NamedTuple

from apps.collectors.exchanges.events import (
    BookDelta,
    BookSnapshot,
    CandleUpdate,
    Control,
    FundingUpdate,
    MalformedFrame,
    MarkPrice,
    OpenInterestUpdate,
    TradeUpdate,
    decimal,
    integer,
    json_object,
    levels,
    text,
)
from apps.collectors.exchanges.okx import contracts
from apps.collectors.exchanges.okx.protocol import (
    BOOK_CHANNEL,
    BUSINESS,
    CANDLE_PREFIX,
    ENDPOINTS,
    FUNDING_CHANNEL,
    KIRBY_INTERVALS,
    MARK_PRICE_CHANNEL,
    OPEN_INTEREST_CHANNEL,
    PONG_FRAME,
    PUBLIC,
    TRADES_CHANNEL,
)
from apps.collectors.exchanges.okx.symbols import is_swap
from apps.markets import intervals as kirby_intervals

CANDLE_FIELDS = 9
IGNORED_CHANNELS = ("trades-all", "tickers", "bbo-tbt", "books5", "books-l2-tbt", "books50-l2-tbt")
SIDES = ("buy", "sell")
CONFIRM = {"0": False, "1": True}


def ms(value, field):
    """Epoch milliseconds from OKX's digit string."""
    if isinstance(value, str) and value.isdigit():
        return int(value)
    raise MalformedFrame(f"{field} is not a time in milliseconds: {value!r}")


def candle_row(row, name, interval):
    """One nine-string candle row of instrument ``name`` -> CandleUpdate (closed as ``confirm`` says)."""
    if not isinstance(row, list) or len(row) < CANDLE_FIELDS:
        raise MalformedFrame(f"candle row is not an array of {CANDLE_FIELDS} values: {row!r}")
    open_ms = ms(row[0], "ts")
    if kirby_intervals.floor(interval, open_ms) != open_ms:
        raise MalformedFrame(f"ts {open_ms} is not the open of a {interval} candle")
    closed = CONFIRM.get(row[8])
    if closed is None:
        raise MalformedFrame(f"confirm is not '0' or '1': {row[8]!r}")
    volume = decimal(row[6], "volCcy") if is_swap(name) else decimal(row[5], "vol")
    return CandleUpdate(
        coin=name, interval=interval, open_ms=open_ms, close_ms=kirby_intervals.shift(interval, open_ms, 1) - 1,
        open=decimal(row[1], "o"), high=decimal(row[2], "h"), low=decimal(row[3], "l"), close=decimal(row[4], "c"),
        volume=volume, num_trades=None, closed=closed,
    )  # fmt: skip


def _candles(channel, name, data):
    interval = KIRBY_INTERVALS.get(channel[len(CANDLE_PREFIX) :])
    if interval is None:
        raise MalformedFrame(f"Kirby has no interval for OKX's {channel!r}")
    return [candle_row(row, name, interval) for row in data]


def _funding(name, item):
    if "fundingRate" not in item or item["fundingRate"] == "":
        return None  # a push with only the next period's estimate: nothing settles on it
    return FundingUpdate(
        coin=name,
        funding_rate=decimal(item.get("fundingRate"), "fundingRate"),
        mark_price=None,
        index_price=None,
        next_funding_ms=ms(item.get("fundingTime"), "fundingTime"),
    )


def _item_of(name, item):
    if not isinstance(item, dict):
        raise MalformedFrame("data item is not an object")
    if item.get("instId", name) != name:
        raise MalformedFrame(f"data of {item.get('instId')!r} under the arg of {name!r}")
    return item


def contract_value(name):
    """Coin per contract of a swap (None for spot, whose sizes are coins already)."""
    if not is_swap(name):
        return None
    value = contracts.value(name)
    if value is None:
        raise MalformedFrame(f"the contract value (ctVal) of {name} is not known yet")
    return value


def trade(item, name, ct_val):
    """One ``trades`` data item -> TradeUpdate with the size in the coin; MalformedFrame without an id or side."""
    item = _item_of(name, item)
    side = item.get("side")
    if side not in SIDES:
        raise MalformedFrame(f"side is not buy or sell: {side!r}")
    price, size = decimal(item.get("px"), "px"), decimal(item.get("sz"), "sz")
    if price <= 0 or size <= 0:
        raise MalformedFrame(f"a trade with a price or size that is not positive: {item!r}")
    return TradeUpdate(
        coin=name, trade_id=text(item.get("tradeId"), "tradeId"), price=price,
        size=size if ct_val is None else contracts.to_coin(size, ct_val), side=side,
        time_us=ms(item.get("ts"), "ts") * 1000,
    )  # fmt: skip


def _book_side(value, field, ct_val):
    pairs = levels(value, field)
    return pairs if ct_val is None else [(price, contracts.to_coin(size, ct_val)) for price, size in pairs]


def book_event(action, item, name, ct_val):
    """One ``books`` data item -> BookSnapshot (``action`` snapshot) or BookDelta (update)."""
    item = _item_of(name, item)
    time_ms = ms(item.get("ts"), "ts")
    seq_id = integer(item.get("seqId"), "seqId", nullable=True)
    previous = integer(item.get("prevSeqId"), "prevSeqId", nullable=True)
    bids, asks = _book_side(item.get("bids"), "bids", ct_val), _book_side(item.get("asks"), "asks", ct_val)
    if action == "snapshot":
        return BookSnapshot(name, time_ms, seq_id, bids, asks)
    if action == "update":
        return BookDelta(name, time_ms, seq_id, seq_id, previous, bids, asks)
    raise MalformedFrame(f"books action is not snapshot or update: {action!r}")


def _control(message):
    event = message.get("event")
    if event in ("subscribe", "unsubscribe"):
        return Control("ack", message.get("arg"))
    if event == "error":
        return Control("error", f"{message.get('code')}: {message.get('msg')}")
    if event == "notice":
        return Control("error", f"notice {message.get('code')}: {message.get('msg')}")
    if event == "channel-conn-count":
        return Control("ack", message)
    raise MalformedFrame(f"unknown event {event!r}")


def parse_frame(raw, endpoint):
    """Events of one text frame from ``endpoint`` (``public`` or ``business``); MalformedFrame for bad input."""
    if endpoint not in ENDPOINTS:
        raise ValueError(f"unknown OKX endpoint {endpoint!r}")
    if raw == PONG_FRAME:
        return [Control("pong")]
    message = json_object(raw)
    if "event" in message:
        return [_control(message)]
    arg, data = message.get("arg"), message.get("data")
    if not isinstance(arg, dict) or not isinstance(data, list):
        raise MalformedFrame("neither an event nor an arg with a data list")
    channel, name = text(arg.get("channel"), "arg.channel"), text(arg.get("instId"), "arg.instId")
    if channel.startswith(CANDLE_PREFIX):
        if endpoint != BUSINESS:
            raise MalformedFrame("candles outside the business endpoint")
        return _candles(channel, name, data)
    if channel in (FUNDING_CHANNEL, OPEN_INTEREST_CHANNEL, MARK_PRICE_CHANNEL):
        if endpoint != PUBLIC or not is_swap(name):
            raise MalformedFrame(f"{channel} of {name!r} outside the public endpoint's swaps")
        events = []
        for item in data:
            item = _item_of(name, item)
            if channel == FUNDING_CHANNEL:
                event = _funding(name, item)
            elif channel == OPEN_INTEREST_CHANNEL:
                event = OpenInterestUpdate(name, decimal(item.get("oiCcy"), "oiCcy"))
            else:
                event = MarkPrice(name, decimal(item.get("markPx"), "markPx"))
            if event is not None:
                events.append(event)
        return events
    if channel in (TRADES_CHANNEL, BOOK_CHANNEL):
        if endpoint != PUBLIC:
            raise MalformedFrame(f"{channel} outside the public endpoint")
        ct_val = contract_value(name)
        if channel == TRADES_CHANNEL:
            return [trade(item, name, ct_val) for item in data]
        return [book_event(message.get("action"), item, name, ct_val) for item in data]
    if channel in IGNORED_CHANNELS:
        return []
    raise MalformedFrame(f"unknown channel {channel!r}")


# --- REST answers -------------------------------------------------------------------------------


class FundingPoint(NamedTuple):
    time_ms: int
    funding_rate: Decimal
    premium: Decimal | None = None  # OKX's history has none


class OpenInterestPoint(NamedTuple):
    time_ms: int
    open_interest: Decimal  # in the coin
    notional_value: Decimal | None  # in USD, as OKX reports it


def data_list(body):
    """The ``data`` of a successful REST answer; MalformedFrame otherwise."""
    if not isinstance(body, dict) or body.get("code") != "0":
        code = body.get("code") if isinstance(body, dict) else None
        raise MalformedFrame(f"code {code!r}: {body.get('msg') if isinstance(body, dict) else body!r}")
    rows = body.get("data")
    if not isinstance(rows, list):
        raise MalformedFrame("data is not a list")
    return rows


def parse_funding_row(row, name):
    """A funding-rate-history row: ``fundingRate`` as the live channel publishes it, at ``fundingTime``.

    ``realizedRate`` (the rate charged, rounded) is not kept: live and history
    must store the same number for the same settlement.
    """
    if not isinstance(row, dict) or row.get("instId", name) != name:
        raise MalformedFrame(f"funding row is not an object of {name}: {row!r}")
    return FundingPoint(ms(row.get("fundingTime"), "fundingTime"), decimal(row.get("fundingRate"), "fundingRate"))


def parse_open_interest_row(row):
    """A rubik open-interest row ``[ts, oi (contracts), oiCcy (coin), oiUsd]``."""
    if not isinstance(row, list) or len(row) < 4:
        raise MalformedFrame(f"open-interest row is not an array of 4 values: {row!r}")
    return OpenInterestPoint(ms(row[0], "ts"), decimal(row[2], "oiCcy"), decimal(row[3], "oiUsd"))
