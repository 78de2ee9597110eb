"""Hyperliquid's public WebSocket (EXCHANGES.md section 1) over the deterministic market.

It speaks the handshake, acks, errors and pushes the real venue sends, including the habits a
collector must cope with: a plain-text greeting, repeated pushes of the open candle with no closed
flag, varying key order, and funding with open interest in one ``activeAssetCtx`` message.
"""

import asyncio
import json
import math
import time

from . import intervals, ticks
from .connection import Connection, Sent
from .context import asset_ctx
from .replay import replay

GREETING = "Websocket connection established."
SUBSCRIPTION_FIELDS = {"candle": ("coin", "interval"), "activeAssetCtx": ("coin",), "trades": ("coin",),
                       "l2Book": ("coin",)}  # fmt: skip
# A trades subscription starts with the recent trades (virtual ms), as a reconnecting collector sees them again.
RECENT_TRADES_MS = 5 * 60_000


def dumps(value) -> str:
    return json.dumps(value, separators=(",", ":"))


def subscription_key(subscription: dict) -> str:
    fields = SUBSCRIPTION_FIELDS[subscription["type"]]
    return dumps([subscription["type"], *(subscription[name] for name in fields)])


def subscription_problem(subscription) -> str | None:
    """Why a subscription is unacceptable, in the venue's words as far as they are known."""
    if not isinstance(subscription, dict):
        return f"Invalid subscription: {dumps(subscription)}"
    kind = subscription.get("type")
    if not isinstance(kind, str) or kind not in SUBSCRIPTION_FIELDS:
        return f"Unsupported subscription type {dumps(kind)}: {dumps(subscription)}"
    coin = subscription.get("coin")
    if not isinstance(coin, str) or not coin:
        return f"Invalid subscription, missing coin: {dumps(subscription)}"
    if kind == "candle" and not intervals.is_interval(subscription.get("interval")):
        return f"Invalid candle interval {dumps(subscription.get('interval'))}: {dumps(subscription)}"
    return None


def flood_states(states: list, messages: int) -> list:
    """``messages`` states ending at the latest; strictly growing when there are enough trades."""
    if not states or messages <= 0:
        return []
    if len(states) >= messages:
        return states[-messages:]
    return [states[math.ceil(k * len(states) / messages) - 1] for k in range(1, messages + 1)]


class HyperliquidProtocol:
    name = "hyperliquid"

    def __init__(self, state):
        self.state = state

    async def on_open(self, connection: Connection) -> None:
        await connection.send(GREETING)

    async def on_text(self, connection: Connection, text: str) -> None:
        try:
            message = json.loads(text)
        except ValueError:
            message = None
        if not isinstance(message, dict):
            await self._error(connection, f"Error parsing JSON into valid websocket request: {text}")
            return
        method = message.get("method")
        if method == "ping":
            await connection.send(dumps({"channel": "pong"}))
        elif method in ("subscribe", "unsubscribe"):
            subscription = message.get("subscription")
            problem = subscription_problem(subscription)
            if problem:
                await self._error(connection, problem)
            elif method == "subscribe":
                await self._subscribe(connection, subscription)
            else:
                await self._unsubscribe(connection, subscription)
        else:
            await self._error(connection, f"Error parsing JSON into valid websocket request: {text}")

    async def _error(self, connection: Connection, text: str) -> None:
        await connection.send(dumps({"channel": "error", "data": text}))

    @staticmethod
    def _ack(method: str, subscription: dict) -> str:
        return dumps({"channel": "subscriptionResponse", "data": {"method": method, "subscription": subscription}})

    async def _subscribe(self, connection: Connection, subscription: dict) -> None:
        key = subscription_key(subscription)
        if key in connection.subscriptions:
            await self._error(connection, f"Already subscribed: {dumps(subscription)}")
            return
        connection.subscriptions[key] = subscription
        self.state.saw_coin(subscription["coin"])
        await connection.send(self._ack("subscribe", subscription))
        if self.state.replay_lines:
            if not connection.replay_started:
                connection.replay_started = True
                spacing = self.state.config.update_interval
                connection.start("replay", replay(connection, self.state.replay_lines, spacing))
        elif subscription["type"] == "candle":
            connection.start(key, self._push_candles(connection, subscription["coin"], subscription["interval"]))
        elif subscription["type"] == "trades":
            connection.start(key, self._push_trades(connection, subscription["coin"]))
        elif subscription["type"] == "l2Book":
            connection.start(key, self._push_books(connection, subscription["coin"]))
        else:
            connection.start(key, self._push_ctx(connection, subscription["coin"]))

    async def _unsubscribe(self, connection: Connection, subscription: dict) -> None:
        key = subscription_key(subscription)
        if key not in connection.subscriptions:
            await self._error(connection, f"Already unsubscribed: {dumps(subscription)}")
            return
        connection.stop(key)
        del connection.subscriptions[key]
        await connection.send(self._ack("unsubscribe", subscription))

    async def _send_candle(self, connection: Connection, candle) -> None:
        if candle is None:
            return
        connection.pushes += 1
        wire = candle.to_wire(alphabetical=connection.pushes % 3 == 0)
        await connection.send(dumps({"channel": "candle", "data": wire}), data=True)

    async def _push_candles(self, connection: Connection, coin: str, interval: str) -> None:
        """Push the open candle; on rollover push the finished one complete, then the new one."""
        market, clock = self.state.market, self.state.clock
        current = None
        while True:
            now = clock.now_ms()
            open_time = intervals.floor(interval, now)
            async with connection.send_lock:
                if current is not None and open_time != current:
                    await self._send_candle(connection, market.candle(coin, interval, current))
                current = open_time
                await self._send_candle(connection, market.candle(coin, interval, open_time, until_ms=now))
            await asyncio.sleep(self.state.config.update_interval)

    async def _push_trades(self, connection: Connection, coin: str) -> None:
        """The recent trades first, then each trade once its virtual time has come, one frame per push."""
        market, clock = self.state.market, self.state.clock
        sent_until = clock.now_ms() - RECENT_TRADES_MS
        while True:
            now = clock.now_ms()
            tape = await asyncio.to_thread(ticks.trades, market, coin, sent_until, now + 1)
            if tape:
                async with connection.send_lock:
                    await connection.send(dumps({"channel": "trades", "data": tape}), data=True)
            sent_until = now + 1
            await asyncio.sleep(self.state.config.update_interval)

    async def _push_books(self, connection: Connection, coin: str) -> None:
        """The book of the current block, whenever the block changed since the last push."""
        market, clock, last = self.state.market, self.state.clock, None
        while True:
            data = ticks.book(market, coin, clock.now_ms())
            if data["time"] != last:
                last = data["time"]
                async with connection.send_lock:
                    await connection.send(dumps({"channel": "l2Book", "data": data}), data=True)
            await asyncio.sleep(self.state.config.update_interval)

    async def _push_ctx(self, connection: Connection, coin: str) -> None:
        seed = self.state.config.seed
        while True:
            ctx = asset_ctx(seed, coin, self.state.clock.now_ms())
            frame = dumps({"channel": "activeAssetCtx", "data": {"coin": coin, "ctx": ctx}})
            async with connection.send_lock:
                sent = await connection.send(frame, data=True)
            if sent is Sent.SENT:
                self.state.log_ctx(coin, ctx)
            await asyncio.sleep(self.state.config.ctx_interval)

    async def flood(self, coin: str, interval: str, messages: int) -> dict:
        """Burst ``messages`` updates of the open candle to its subscribers; the last is the current truth.

        Each frame is a real earlier state of the candle (after one more of its trades), so
        ``n`` and ``v`` grow frame by frame when the candle has at least ``messages`` trades.
        """
        key = subscription_key({"type": "candle", "coin": coin, "interval": interval})
        targets = [c for c in self.state.connections.values() if key in c.subscriptions]
        now = self.state.clock.now_ms()
        open_time = intervals.floor(interval, now)
        states = flood_states(self.state.market.tick_states(coin, interval, open_time, now, messages), messages)
        frames = [dumps({"channel": "candle", "data": candle.to_wire()}) for candle in states]
        started = time.monotonic()

        async def burst(connection: Connection) -> None:
            async with connection.send_lock:
                for frame in frames:
                    await connection.send(frame, data=True)

        await asyncio.gather(*(burst(connection) for connection in targets))
        return {
            "sent": len(frames) if targets else 0,
            "connections": len(targets),
            "seconds": time.monotonic() - started,
            "virtual_time_ms": now,
        }
