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
"""

import asyncio
import json
from datetime import UTC, datetime

from aiohttp import web

from apps.markets import intervals

from .coinbase import Invalid, base_coin, market
from .connection import Connection, Sent
from .market import decimal_text
from .state import STATE

PATH = "/coinbase/ws"
CHANNELS = ("market_trades", "heartbeats")
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


def tape(simulated, product: str, after_ms: int, until_ms: int) -> list[dict]:
    """Trades of ``product`` with ``after_ms < time <= until_ms``, oldest first, as Coinbase writes them."""
    coin, trades = base_coin(product), []
    minute = after_ms - after_ms % MINUTE
    while minute <= until_ms:
        for tick in simulated.ticks(coin, minute):
            if after_ms < tick.time <= until_ms:
                side = "BUY" if tick.time // 1000 % 2 else "SELL"
                trades.append({"trade_id": trade_id(product, tick.time), "product_id": product,
                               "price": decimal_text(tick.price), "size": decimal_text(tick.size),
                               "time": stamp(tick.time), "side": side})  # fmt: skip
        minute += MINUTE
    return trades


class _Socket:
    def __init__(self):
        self.sequence = -1
        self.channels: dict[str, set] = {}
        self.lose = 0


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

    async def send(self, connection: Connection, channel: str, events: list) -> Sent:
        """One enveloped message, numbered; a pending sequence-gap fault loses it after taking its number."""
        socket = self.sockets[connection.id]
        async with connection.send_lock:
            socket.sequence += 1
            pending = self.app[GAPS].get(connection.id, 0)
            if pending > 0:
                self.app[GAPS][connection.id] = pending - 1
                return Sent.SILENCED
            message = {"channel": channel, "client_id": "", "timestamp": stamp(self.state.clock.now_ms()),
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
            new = [p for p in products if p not in held] if channel == "market_trades" else []
            held.update(products or ([channel] if channel == "heartbeats" else []))
        else:
            held.difference_update(products)
            new = []
        for key, values in socket.channels.items():
            connection.subscriptions[key] = {"channel": key, "product_ids": sorted(values)}
        subscriptions = {key: sorted(values) for key, values in socket.channels.items() if values}
        await self.send(connection, "subscriptions", [{"subscriptions": subscriptions}])
        if channel == "heartbeats" and message["type"] == "subscribe" and "heartbeats" not in connection.tasks:
            connection.start("heartbeats", self._heartbeats(connection))
        if new:
            await self._snapshot(connection, new)
            if "market_trades" not in connection.tasks:
                connection.start("market_trades", self._trades(connection))

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
