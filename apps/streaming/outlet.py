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

The probe into Daphne (its ``send`` is ``partial(server.handle_reply,
protocol)``; the protocol's Twisted transport counts its buffered bytes)
is the one place that knows server internals; under any other server it
finds nothing and the outlet relies on ``send`` alone.
"""

import asyncio
import functools
import logging
from collections import deque

log = logging.getLogger(__name__)

HIGH_WATER = 64 * 1024  # unsent bytes in the transport above which the client counts as behind
POLL_SECONDS = 0.02  # how often a paused outlet looks at the transport again


class Outlet:
    def __init__(self, send, *, limit, on_overflow):
        self.send = send
        self.limit = limit
        self.on_overflow = on_overflow
        self.queue = deque()
        self.closed = False
        self.protocol, self.transport = _daphne_socket(send)
        self._ready = asyncio.Event()
        self._task = asyncio.ensure_future(self._write())

    def put(self, text):
        """Queue one text frame; past the limit the outlet closes and calls ``on_overflow`` once."""
        if self.closed:
            return
        queue = self.queue
        queue.append(text)
        if len(queue) > self.limit:
            self.closed = True
            queue.clear()
            self.on_overflow()
        elif len(queue) == 1:
            self._ready.set()

    def put_many(self, texts):
        for text in texts:
            self.put(text)

    def backlog(self):
        """Unsent bytes in the server's transport (0 when not known)."""
        transport = self.transport
        if transport is None:
            return 0
        try:
            return len(transport.dataBuffer) - transport.offset + transport._tempDataLen
        except AttributeError:
            return 0

    async def _write(self):
        queue, ready = self.queue, self._ready
        while True:
            if not queue:
                ready.clear()
                await ready.wait()
                continue
            if self.transport is not None and self.backlog() > HIGH_WATER:
                await asyncio.sleep(POLL_SECONDS)
                continue
            # Under Daphne this does not yield: consecutive frames go out in one turn.
            await self.send({"type": "websocket.send", "text": queue.popleft()})

    async def close(self, code, reason, last_words=None):
        """Stop writing queued frames; send ``last_words`` (a text frame) and a close frame now."""
        self.closed = True
        self.queue.clear()
        await self.stop()
        if last_words is not None:
            await self.send({"type": "websocket.send", "text": last_words})
        if self.protocol is not None:
            # Daphne 4.2 drops the ASGI close reason; its protocol object sends it.
            self.protocol.sendClose(code=code, reason=reason)
        else:
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


def _daphne_socket(send):
    """(autobahn protocol, Twisted transport) behind a Daphne ``send``, or (None, None)."""
    if not isinstance(send, functools.partial) or not send.args:
        return None, None
    protocol = send.args[0]
    if not callable(getattr(protocol, "sendClose", None)):
        return None, None
    transport = getattr(protocol, "transport", None)
    # TLS wraps the TCP transport; the bytes wait in the innermost one.
    while transport is not None and not hasattr(transport, "_tempDataLen"):
        transport = getattr(transport, "transport", None)
    return protocol, transport
