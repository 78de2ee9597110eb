"""Channels groups of the live stream, and every message shape that travels on /ws.

One module owns the names and shapes so the publisher (after a write) and
the consumer (per connection) cannot disagree:

- candles of a starlisting go to group ``kirby.candles.<starlisting id>``;
- funding and open interest belong to a trading pair and go to group
  ``kirby.pair.<trading pair id>``, and so do a write's trades of the pair, in one message;
- order books do not travel through groups: each server process reads the
  current books its clients follow from Redis (apps.streaming.books).

A group message carries the client's JSON text already rendered, one text
per starlisting it concerns (a pair's funding row names each starlisting of
the pair, as clients subscribe by starlisting), so consumers only route:
``{"type": "stream.push", "group", "channel", "texts": [[starlisting id, text], ...]}``.

Client messages: items are shaped exactly like REST items (decimals as
plain-notation strings, times ISO-8601 UTC with ``Z``).
"""

import asyncio
from datetime import UTC, datetime
from decimal import Decimal

import orjson
from channels.layers import get_channel_layer

from apps.marketdata.queries import CANDLE_FIELDS, FUNDING_FIELDS, OPEN_INTEREST_FIELDS
from apps.marketdata.tick_queries import TRADE_FIELDS
from apps.marketdata.trade_lines import unescaped
from apps.streaming import publisher
from lib.http.render import iso

PUSH = "stream.push"
CANDLES, FUNDING, OPEN_INTEREST = CHANNELS = ("candles", "funding", "open_interest")
PAIR_CHANNELS = (FUNDING, OPEN_INTEREST)
# Only when asked for by name in ``channels``: a subscribe without ``channels`` gets CHANNELS, as in 1.x.
TRADES, ORDERBOOK = TICK_CHANNELS = ("trades", "orderbook")
ALL_CHANNELS = CHANNELS + TICK_CHANNELS
# Levels per side of the books sent on /ws.
BOOK_DEPTH = 20

# client message types per channel: (live, history)
LIVE_TYPE = {CANDLES: "candle", FUNDING: "funding", OPEN_INTEREST: "open_interest"}
HISTORY_TYPE = {CANDLES: "historical", FUNDING: "historical_funding", OPEN_INTEREST: "historical_oi"}
ITEM_FIELDS = {CANDLES: CANDLE_FIELDS, FUNDING: FUNDING_FIELDS, OPEN_INTEREST: OPEN_INTEREST_FIELDS,
               TRADES: TRADE_FIELDS}  # fmt: skip

# Group sends of one batch run concurrently across groups (in order within a group).
_CONCURRENT_GROUPS = 16
_JSON_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC


def candle_group(starlisting_id):
    return f"kirby.candles.{starlisting_id}"


def pair_group(trading_pair_id):
    return f"kirby.pair.{trading_pair_id}"


def push(group, channel, texts):
    """The group message: ``texts`` is a list of ``[starlisting_id, client JSON text]``."""
    return {"type": PUSH, "group": group, "channel": channel, "texts": texts}


# --- client messages --------------------------------------------------------------


def dumps(message):
    return orjson.dumps(message, option=_JSON_OPTIONS).decode()


def item(channel, record):
    """A record (``apps.marketdata.records``) as the REST item of its table."""
    fields = ITEM_FIELDS[channel]
    # Records start with their series id; REST items start at ``time``.
    return {name: _plain(value) for name, value in zip(fields, record[1:])}


def _plain(value):
    # numeric::text (REST) and format(Decimal, "f") agree for values read from PostgreSQL.
    return format(value, "f") if isinstance(value, Decimal) else value


def _header(message_type, series, channel):
    header = {
        "type": message_type,
        "starlisting_id": series.id,
        "exchange": series.exchange,
        "coin": series.coin,
        "quote": series.quote,
        "trading_pair": series.trading_pair,
        "market_type": series.market_type,
    }
    if channel == CANDLES:
        header["interval"] = series.interval
    return header


def live_text(channel, series, data):
    """``candle`` / ``funding`` / ``open_interest`` for one starlisting (``series``)."""
    return dumps({**_header(LIVE_TYPE[channel], series, channel), "data": data})


def history_text(channel, series, items):
    """``historical`` / ``historical_funding`` / ``historical_oi``: ``items`` ascending by time."""
    return dumps({**_header(HISTORY_TYPE[channel], series, channel), "count": len(items), "data": items})


def trades_head(series, count):
    """``trades`` of one starlisting up to its ``data``: the collector renders the head, each server process
    the ``count`` items once for all its clients (``rendered``)."""
    return dumps({**_header("trades", series, TRADES), "count": count})[:-1] + ',"data":'


def trades_push(group, heads, lines):
    """A pair's trades of one write: ``heads`` ``[[starlisting_id, trades_head], ...]``, ``lines`` the trades as
    COPY text (apps.marketdata.trade_lines), as the writer stored them."""
    return {"type": PUSH, "group": group, "channel": TRADES, "heads": heads, "lines": lines}


def rendered(message):
    """A group message with its ``texts``: a trades push gets them here, once per server process."""
    if "texts" not in message:
        items = trade_items_text(message["lines"])
        message["texts"] = [[sid, f"{head}{items}}}"] for sid, head in message["heads"]]
    return message


def trade_items_text(lines):
    """One pair's trades as COPY text lines -> the JSON array of their REST items, ascending by time then
    trade id (a numeric id as a number sorts): what REST serves for them, byte for byte."""
    trades = []
    for line in lines.splitlines():
        _, moment, trade_id, price, size, side = line.split("\t")
        trades.append((moment, unescaped(trade_id), price, size, side))
    # isoformat's UTC spelling sorts as the times do ("+" before ".": a whole second before its fractions).
    trades.sort(key=_trade_order)
    return dumps(
        [
            {"time": f"{moment[:-6]}Z", "trade_id": trade_id, "price": _plain_text(price), "size": _plain_text(size),
             "side": side}
            for moment, trade_id, price, size, side in trades
        ]
    )  # fmt: skip


def _trade_order(trade):
    return trade[0], len(trade[1]), trade[1]


def _plain_text(number):
    # str(Decimal) may choose exponent notation (1E-7); REST's numeric::text never does.
    return format(Decimal(number), "f") if "E" in number else number


def book_text(series, book):
    """``orderbook``: the pair's newest book (``in_sync`` false, no levels and the reason while it is rebuilt)."""
    data = {
        "in_sync": book["in_sync"],
        "time": book["time"],
        "sequence": book["sequence"],
        "bids": book["bids"][:BOOK_DEPTH],
        "asks": book["asks"][:BOOK_DEPTH],
    }
    if not book["in_sync"]:
        data["reason"] = book["reason"]
    return dumps({**_header("orderbook", series, ORDERBOOK), "data": data})


def success(message, starlisting_ids):
    return dumps({"type": "success", "message": message, "starlisting_ids": starlisting_ids})


def error(code, message, **extra):
    return dumps({"type": "error", "message": message, "code": code, **extra})


def pong():
    return dumps({"type": "pong", "timestamp": iso(datetime.now(UTC))})


def ping():
    return dumps({"type": "ping", "timestamp": iso(datetime.now(UTC))})


# --- sending ------------------------------------------------------------------------


def send_to_groups(messages):
    """Send ``[(group, message), ...]`` from synchronous code: queued on the process's publisher (publisher.py),
    which sends the batches in order, each batch's groups concurrently; returns without waiting for Redis."""
    if messages:
        publisher.submit(lambda: send_to_groups_async(messages))


async def send_to_groups_async(messages):
    layer = get_channel_layer()
    if layer is None:
        return
    by_group = {}
    for group, message in messages:
        by_group.setdefault(group, []).append(message)
    gate = asyncio.Semaphore(_CONCURRENT_GROUPS)

    async def send_in_order(group, queued):
        async with gate:
            for message in queued:
                await layer.group_send(group, message)

    await asyncio.gather(*(send_in_order(group, queued) for group, queued in by_group.items()))
