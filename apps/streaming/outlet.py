"""Everything a connection sends, in order, through a bounded queue.

A slow client must never delay the others, and must not make the server
buffer without limit. Under Daphne the ASGI ``send`` never waits: it hands
the frame to Twisted, whose transport buffers whatever the socket does not
take, without bound. So the outlet writes to the socket only while the
transport holds less than ``HIGH_WATER`` unsent bytes (kernel buffers full
and then some: the client is not keeping up) and keeps the rest in its own
queue; when that queue exceeds its limit the connection is closed. Under
servers whose ``send`` waits for the socket (uvicorn), the queue fills
while ``send`` waits, to the same effect.

Under Daphne the outlet writes the frames itself, through
``daphne_fastpath`` (the one module that knows Daphne's internals, and
checks them); under any other server, or when that check fails, it uses
``send`` alone.
"""

import asyncio
import logging
from collections import deque

from apps.streaming.daphne_fastpath import socket_behind
from lib.metrics import WS_DROPPED, WS_SENT

log = logging.getLogger(__name__)

HIGH_WATER = 64 * 1024  # unsent bytes in the transport above which the client counts as behind
POLL_SECONDS = 0.02  # how often a paused outlet looks at the transport again


class Outlet:
    """``limit`` frames or ``max_bytes`` of text may wait (frames are ASCII JSON: characters are bytes)."""

    def __init__(self, send, *, limit, on_overflow, max_bytes=None):
        self.send = send
        self.limit = limit
        self.max_bytes = max_bytes
        self.on_overflow = on_overflow
        self.queue = deque()
        self.queued_bytes = 0
        self.overflowed_by = None  # "frames" or "bytes", once closed for holding too much
        self.closed = False
        self.socket = socket_behind(send)
        self._sending = False  # a frame is in ``send`` (servers whose send waits for the socket)
        self._ready = asyncio.Event()
        self._task = asyncio.ensure_future(self._write())

    def put(self, text):
        """Send or queue one text frame; past the limit the outlet closes and calls ``on_overflow`` once."""
        if self.closed:
            WS_DROPPED.inc()
            return
        queue = self.queue
        if not queue and self.socket is not None and self.socket.pending() <= HIGH_WATER:
            self.socket.write(text)
            WS_SENT.inc()
            return
        queue.append(text)
        self.queued_bytes += len(text)
        if len(queue) > self.limit or (self.max_bytes is not None and self.queued_bytes > self.max_bytes):
            self.overflowed_by = "frames" if len(queue) > self.limit else "bytes"
            self.closed = True
            WS_DROPPED.inc(len(queue))
            queue.clear()
            self.queued_bytes = 0
            self.on_overflow()
        elif len(queue) == 1:
            self._ready.set()

    @property
    def behind(self):
        """Whether a frame put now would wait: frames queued, one in ``send``, or the transport past HIGH_WATER."""
        return bool(self.queue) or self._sending or (self.socket is not None and self.socket.pending() > HIGH_WATER)

    def put_many(self, texts):
        for text in texts:
            self.put(text)

    async def _write(self):
        queue, ready, socket = self.queue, self._ready, self.socket
        try:
            while True:
                if not queue:
                    ready.clear()
                    await ready.wait()
                elif socket is None:
                    text = queue.popleft()
                    self.queued_bytes -= len(text)
                    self._sending = True
                    try:
                        await self.send({"type": "websocket.send", "text": text})
                    finally:
                        self._sending = False
                    WS_SENT.inc()
                elif socket.pending() > HIGH_WATER:
                    await asyncio.sleep(POLL_SECONDS)
                else:
                    text = queue.popleft()
                    self.queued_bytes -= len(text)
                    socket.write(text)
                    WS_SENT.inc()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("WebSocket writer failed; nothing more is sent on this connection")
            self.closed = True

    async def close(self, code, reason, last_words=None):
        """Stop writing queued frames; send ``last_words`` (a text frame) and a close frame now."""
        self.closed = True
        if self.queue:
            WS_DROPPED.inc(len(self.queue))
        self.queue.clear()
        self.queued_bytes = 0
        await self.stop()
        if self.socket is not None:
            if last_words is not None:
                self.socket.write(last_words)
            self.socket.close(code, reason)  # Daphne 4.2 drops the reason of an ASGI close
            return
        if last_words is not None:
            await self.send({"type": "websocket.send", "text": last_words})
        await self.send({"type": "websocket.close", "code": code, "reason": reason})

    async def stop(self):
        self.closed = True
        task = self._task
        if not task.done():
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
