"""Helpers for tests that talk to a running simulator over real sockets.

The project has no pytest-asyncio, so ``sync`` turns an ``async def`` test into a plain one, and
``Client`` wraps an aiohttp WebSocket so every wait has a deadline and a failing test never hangs.
"""

import asyncio
import functools
import json

import aiohttp

from .hyperliquid import GREETING


def sync(test):
    """Run an ``async def`` test on its own event loop."""

    @functools.wraps(test)
    def run(*args, **kwargs):
        return asyncio.run(test(*args, **kwargs))

    return run


class Closed(Exception):
    """The server ended the WebSocket; ``message`` is what aiohttp reported."""

    def __init__(self, message):
        super().__init__(f"socket closed: {message.type.name} {message.data!r}")
        self.message = message


class Client:
    def __init__(self, session: aiohttp.ClientSession, ws: aiohttp.ClientWebSocketResponse):
        self.session = session
        self.ws = ws

    @classmethod
    async def connect(cls, session: aiohttp.ClientSession, url: str, greeted: bool = True) -> "Client":
        """Open a socket; with ``greeted`` also consume (and check) the greeting frame."""
        client = cls(session, await session.ws_connect(url))
        if greeted:
            greeting = await client.text()
            if greeting != GREETING:
                raise AssertionError(f"expected the greeting, got {greeting!r}")
        return client

    async def send(self, message) -> None:
        await self.ws.send_str(message if isinstance(message, str) else json.dumps(message))

    async def text(self, timeout: float = 2.0) -> str:
        message = await self.ws.receive(timeout)
        if message.type != aiohttp.WSMsgType.TEXT:
            raise Closed(message)
        return message.data

    async def json(self, timeout: float = 2.0):
        return json.loads(await self.text(timeout))

    async def until(self, predicate, timeout: float = 3.0):
        """The first JSON frame satisfying ``predicate``, skipping the others."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            frame = await self.json(max(0.001, deadline - loop.time()))
            if predicate(frame):
                return frame

    async def subscribe(self, subscription: dict) -> dict:
        await self.send({"method": "subscribe", "subscription": subscription})
        return await self.until(lambda frame: frame.get("channel") in ("subscriptionResponse", "error"))

    async def collect(self, seconds: float) -> list[str]:
        """Every text frame received during the next ``seconds``."""
        loop = asyncio.get_running_loop()
        deadline, texts = loop.time() + seconds, []
        while (left := deadline - loop.time()) > 0:
            try:
                texts.append(await self.text(left))
            except TimeoutError:
                break
        return texts

    async def close(self) -> None:
        await self.ws.close()


def is_candle(frame) -> bool:
    return isinstance(frame, dict) and frame.get("channel") == "candle"
