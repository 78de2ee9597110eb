"""Coinbase Advanced Trade's public WebSocket (EXCHANGES.md section 6.1-6.2) over the deterministic trade tape.

``GET /coinbase/ws`` speaks what a collector meets at
``wss://advanced-trade-ws.coinbase.com``: ``{"type": "subscribe",
"channel", "product_ids"}`` with one channel per message (``market_trades``
or ``heartbeats``; a ``channels`` list or an unknown channel is answered
with ``{"type": "error", "message"}``), acked on the ``subscriptions``
channel with everything the connection holds; a client that has not
subscribed within 5 s is disconnected. Every message carries the envelope
``{"channel", "client_id", "timestamp", "sequence_num", "events"}``, and
``sequence_num`` grows by one per message on the connection, across
channels. ``market_trades`` sends a ``snapshot`` of the latest trades
first, then ``update`` batches (newest first) of every trade on the tape
since the last batch, each ``{trade_id, product_id, price, size, side,
time}`` with RFC 3339 microsecond times; ``heartbeats`` sends one message
a second. The trades are the simulator's market (seeded apart from the
other venues), so the REST candles (``coinbase``) are exactly their
aggregation. The shared faults apply (every frame goes through
``Connection``); the sequence-gap fault loses messages but uses up their
numbers.

``level2`` (data channel ``l2_data``): a subscribe sends each new
product's whole true book as a ``snapshot`` event (bids and offers, absolute
sizes, ``event_time`` 1970 as Coinbase writes it), then an ``update`` with
the changed levels (``"0"`` removes one) whenever the book's half-second
block changes; ``l2_data`` messages are stamped with the block's time, so
``/truth/book?exchange=coinbase&coin=BTC-USD&time=`` (the book of the
block holding ``time``) is what a client following them holds.
Unsubscribing a product stops its book; subscribing again sends a new
snapshot. ``POST /control/book-fault`` ``{"venue": "coinbase", "kind":
"crossed", "count"}`` makes the next ``count`` book updates carry a bid at
the best offer (a crossed book; the truth is unchanged).
``/truth/trades?exchange=coinbase&coin=BTC-USD&start&end`` lists the tape's
trades of ``[start, end)`` with the taker's side: the wire's ``side`` is the
maker's, as Coinbase documents it for its Exchange feed.
"""

import asyncio
import json
from datetime import UTC, datetime

from aiohttp import web

from apps.markets import intervals

from . import ticks
from .coinbase import Invalid, base_coin, market
from .connection import Connection, Sent
from .market import decimal_text
from .state import STATE

PATH = "/coinbase/ws"
CHANNELS = ("market_trades", "heartbeats", "level2")
TAKER = {"BUY": "sell", "SELL": "buy"}  # the wire's side is the maker's
SUBSCRIBE_WITHIN_SECONDS = 5.0
HEARTBEAT_SECONDS = 1.0
SNAPSHOT_TRADES = 50
MINUTE = 60_000

GAPS = web.AppKey("coinbase_gaps", dict)


def dumps(value) -> str:
    return json.dumps(value, separators=(",", ":"))


def stamp(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def trade_id(product: str, time_ms: int) -> str:
    # The tape has at most one trade per product and second: time makes a counter that only grows.
    return str(time_ms // 1000)


def _ticks(simulated, product: str, after_ms: int, until_ms: int):
    coin = base_coin(product)
    minute = after_ms - after_ms % MINUTE
    while minute <= until_ms:
        for tick in simulated.ticks(coin, minute):
            if after_ms < tick.time <= until_ms:
                yield tick
        minute += MINUTE


def _maker_side(time_ms: int) -> str:
    return "BUY" if time_ms // 1000 % 2 else "SELL"


def tape(simulated, product: str, after_ms: int, until_ms: int) -> list[dict]:
    """Trades of ``product`` with ``after_ms < time <= until_ms``, oldest first, as Coinbase writes them."""
    return [
        {
            "trade_id": trade_id(product, tick.time),
            "product_id": product,
            "price": decimal_text(tick.price),
            "size": decimal_text(tick.size),
            "time": stamp(tick.time),
            "side": _maker_side(tick.time),
        }  # fmt: skip
        for tick in _ticks(simulated, product, after_ms, until_ms)
    ]


def true_book(simulated, product: str, moment_ms: int) -> tuple[int, dict, dict]:
    """(block time, bids, offers) of the product's book at ``moment_ms``: price text -> size text."""
    data = ticks.book(simulated, base_coin(product), moment_ms)
    bids, asks = data["levels"]
    return data["time"], {lv["px"]: lv["sz"] for lv in bids}, {lv["px"]: lv["sz"] for lv in asks}


def truth_book(seed: int, product: str, moment_ms: int) -> dict:
    block, bids, asks = true_book(market(seed), product, moment_ms)
    return {"coin": product, "time": block, "bids": [[p, q] for p, q in bids.items()],
            "asks": [[p, q] for p, q in asks.items()]}  # fmt: skip


def truth_trades(seed: int, product: str, start_ms: int, end_ms: int) -> list[dict]:
    """Trades of ``[start_ms, end_ms)`` with the taker's side and epoch-ms times."""
    return [
        {
            "trade_id": trade_id(product, tick.time),
            "price": decimal_text(tick.price),
            "size": decimal_text(tick.size),
            "side": TAKER[_maker_side(tick.time)],
            "time": tick.time,
        }  # fmt: skip
        for tick in _ticks(market(seed), product, start_ms - 1, end_ms - 1)
    ]


def _changes(before: dict, after: dict, side: str) -> list[dict]:
    """Updates taking one side from ``before`` to ``after``: new or changed sizes, and "0" for levels gone."""
    changed = [(p, q) for p, q in after.items() if before.get(p) != q]
    changed += [(p, "0") for p in before if p not in after]
    return [_level(side, p, q) for p, q in changed]


def _level(side: str, price: str, size: str) -> dict:
    return {"side": side, "event_time": "1970-01-01T00:00:00Z", "price_level": price, "new_quantity": size}


class _Socket:
    def __init__(self):
        self.sequence = -1
        self.channels: dict[str, set] = {}
        self.lose = 0
        self.books: dict[str, tuple] = {}  # product -> (block, bids, offers) last sent


class CoinbaseStream:
    name = "coinbase"

    def __init__(self, state, app):
        self.state, self.app = state, app
        self.simulated = market(state.config.seed)
        self.sockets: dict[int, _Socket] = {}

    async def on_open(self, connection: Connection) -> None:
        for gone in [i for i in self.sockets if i not in self.state.connections]:
            del self.sockets[gone]
        self.sockets[connection.id] = _Socket()
        connection.start("subscribe-deadline", self._require_subscribe(connection))

    async def _require_subscribe(self, connection: Connection) -> None:
        await asyncio.sleep(SUBSCRIBE_WITHIN_SECONDS)
        if not self.sockets.get(connection.id, _Socket()).channels:
            await connection.ws.close(code=1008, message=b"subscribe within 5 seconds")

    async def send(self, connection: Connection, channel: str, events: list, at_ms: int | None = None) -> Sent:
        """One enveloped message, numbered; a pending sequence-gap fault loses it after taking its number."""
        socket = self.sockets[connection.id]
        async with connection.send_lock:
            socket.sequence += 1
            pending = self.app[GAPS].get(connection.id, 0)
            if pending > 0:
                self.app[GAPS][connection.id] = pending - 1
                return Sent.SILENCED
            moment = self.state.clock.now_ms() if at_ms is None else at_ms
            message = {"channel": channel, "client_id": "", "timestamp": stamp(moment),
                       "sequence_num": socket.sequence, "events": events}  # fmt: skip
            return await connection.send(dumps(message), data=channel == "market_trades")

    async def on_text(self, connection: Connection, text: str) -> None:
        try:
            message = json.loads(text)
        except ValueError:
            message = None
        if not isinstance(message, dict) or message.get("type") not in ("subscribe", "unsubscribe"):
            await connection.send(dumps({"type": "error", "message": "failure to parse the request"}))
            return
        channel, products = message.get("channel"), message.get("product_ids") or []
        if "channels" in message or channel not in CHANNELS:
            await connection.send(dumps({"type": "error", "message": f"channel must be one of {', '.join(CHANNELS)}"}))
            return
        try:
            if not isinstance(products, list) or not all(isinstance(p, str) and base_coin(p) for p in products):
                raise Invalid("product_ids must be a list of product ids")
        except Invalid as error:
            await connection.send(dumps({"type": "error", "message": str(error)}))
            return
        socket = self.sockets[connection.id]
        held = socket.channels.setdefault(channel, set())
        if message["type"] == "subscribe":
            new = [p for p in products if p not in held] if channel != "heartbeats" else []
            held.update(products or ([channel] if channel == "heartbeats" else []))
        else:
            held.difference_update(products)
            if channel == "level2":
                for product in products:
                    socket.books.pop(product, None)
            new = []
        for key, values in socket.channels.items():
            connection.subscriptions[key] = {"channel": key, "product_ids": sorted(values)}
        subscriptions = {key: sorted(values) for key, values in socket.channels.items() if values}
        await self.send(connection, "subscriptions", [{"subscriptions": subscriptions}])
        if channel == "heartbeats" and message["type"] == "subscribe" and "heartbeats" not in connection.tasks:
            connection.start("heartbeats", self._heartbeats(connection))
        if new and channel == "market_trades":
            await self._snapshot(connection, new)
            if "market_trades" not in connection.tasks:
                connection.start("market_trades", self._trades(connection))
        if new and channel == "level2":
            for product in new:
                await self._book_snapshot(connection, socket, product)
            if "level2" not in connection.tasks:
                connection.start("level2", self._books(connection))

    async def _book_snapshot(self, connection, socket, product):
        block, bids, asks = true_book(self.simulated, product, self.state.clock.now_ms())
        socket.books[product] = (block, bids, asks)
        updates = [_level("bid", p, q) for p, q in bids.items()] + [_level("offer", p, q) for p, q in asks.items()]
        await self.send(connection, "l2_data", [{"type": "snapshot", "product_id": product, "updates": updates}],
                        at_ms=block)  # fmt: skip

    async def _books(self, connection: Connection) -> None:
        """An update of each subscribed book whenever its block changed, stamped with the block's time."""
        socket = self.sockets[connection.id]
        while True:
            await asyncio.sleep(min(self.state.config.update_interval, ticks.BOOK_BLOCK_MS / 2000))
            now = self.state.clock.now_ms()
            for product in sorted(socket.channels.get("level2", ())):
                sent = socket.books.get(product)
                if sent is None:
                    continue
                block, bids, asks = true_book(self.simulated, product, now)
                if block == sent[0]:
                    continue
                updates = _changes(sent[1], bids, "bid") + _changes(sent[2], asks, "offer")
                if self.state.faults.take_book_fault("coinbase", "crossed"):
                    best_offer = min(asks, key=lambda price: float(price))
                    updates.append(_level("bid", best_offer, "1"))  # a bid at the best offer: crossed
                socket.books[product] = (block, bids, asks)
                await self.send(connection, "l2_data", [{"type": "update", "product_id": product,
                                                         "updates": updates}], at_ms=block)  # fmt: skip

    async def _snapshot(self, connection, products):
        now = self.state.clock.now_ms()
        trades = []
        for product in products:
            trades += tape(self.simulated, product, now - 10 * MINUTE, now)[-SNAPSHOT_TRADES:]
        trades.sort(key=lambda trade: trade["time"], reverse=True)
        await self.send(connection, "market_trades", [{"type": "snapshot", "trades": trades}])

    async def _trades(self, connection: Connection) -> None:
        socket, sent_until = self.sockets[connection.id], self.state.clock.now_ms()
        while True:
            await asyncio.sleep(self.state.config.update_interval)
            now = self.state.clock.now_ms()
            trades = []
            for product in sorted(socket.channels.get("market_trades", ())):
                trades += tape(self.simulated, product, sent_until, now)
            sent_until = now
            if trades:
                trades.sort(key=lambda trade: trade["time"], reverse=True)
                await self.send(connection, "market_trades", [{"type": "update", "trades": trades}])

    async def _heartbeats(self, connection: Connection) -> None:
        counter = 0
        while True:
            counter += 1
            now = self.state.clock.now_ms()
            current = datetime.fromtimestamp(now / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S.%f +0000 UTC")
            await self.send(connection, "heartbeats", [{"current_time": current, "heartbeat_counter": counter}])
            await asyncio.sleep(HEARTBEAT_SECONDS)

    async def flood(self, coin: str, interval: str, messages: int) -> dict:
        """Send ``messages`` market_trades updates of one trade each, as fast as possible, to every subscriber."""
        product = f"{coin}-USD"
        targets = [c for c in self.state.connections.values()
                   if product in self.sockets.get(c.id, _Socket()).channels.get("market_trades", ())]  # fmt: skip
        start = intervals.floor("1m", self.state.clock.now_ms())

        async def burst(connection):
            for n in range(messages):
                at = start + n % MINUTE
                trade = {"trade_id": str(n + 1), "product_id": product, "price": "100.5", "size": "0.001",
                         "time": stamp(at), "side": "BUY"}  # fmt: skip
                if await self.send(connection, "market_trades", [{"type": "update", "trades": [trade]}]) is Sent.CLOSED:
                    return

        await asyncio.gather(*(burst(c) for c in targets))
        return {"messages": messages, "connections": len(targets)}


async def _sequence_gap(request: web.Request) -> web.Response:
    body = await request.json()
    count = body.get("count") if isinstance(body, dict) else None
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        return web.json_response({"error": "count (a positive whole number) is required"}, status=400)
    state = request.app[STATE]
    protocol = state.protocols["coinbase"]
    open_ids = [connection_id for connection_id in protocol.sockets if connection_id in state.connections]
    for connection_id in open_ids:
        request.app[GAPS][connection_id] = count
    return web.json_response({"count": count, "connections": len(open_ids)})


def add_routes(app: web.Application, state) -> CoinbaseStream:
    app[GAPS] = {}
    protocol = CoinbaseStream(state, app)
    app.router.add_post("/control/coinbase/sequence-gap", _sequence_gap)
    return protocol
