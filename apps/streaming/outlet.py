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

Under Daphne the outlet also writes the frames itself (``DaphneSocket``):
a text frame goes straight to the TCP socket when nothing is waiting in
Twisted's buffer, else after it in that buffer. Measured with 1,000
clients on one starlisting, going through ``send`` (Daphne, autobahn,
Twisted) cost about 70 us a client per message, most of it an epoll
registration and an extra loop turn per write; frames shared by all
clients are also built once. This is the one place that knows server
internals (Daphne's ``send`` is ``partial(server.handle_reply,
protocol)``); under any other server the outlet uses ``send`` alone.
"""

import asyncio
import functools
import logging
from collections import deque

from lib.metrics import WS_DROPPED, WS_SENT

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
        self.socket = DaphneSocket.behind(send)
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
        if len(queue) > self.limit:
            self.closed = True
            WS_DROPPED.inc(len(queue))
            queue.clear()
            self.on_overflow()
        elif len(queue) == 1:
            self._ready.set()

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
                    await self.send({"type": "websocket.send", "text": queue.popleft()})
                    WS_SENT.inc()
                elif socket.pending() > HIGH_WATER:
                    await asyncio.sleep(POLL_SECONDS)
                else:
                    socket.write(queue.popleft())
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


class DaphneSocket:
    """Text frames for one Daphne WebSocket connection, written without the ASGI ``send``."""

    def __init__(self, protocol, transport):
        self.protocol = protocol
        self.transport = transport  # the TCP transport (innermost, under TLS)
        self.direct = protocol.transport is transport  # plain TCP: the socket may be written directly
        self.open = protocol.STATE_OPEN

    @classmethod
    def behind(cls, send):
        """The socket behind a Daphne ``send``, or None under any other server."""
        if not isinstance(send, functools.partial) or not send.args:
            return None
        protocol = send.args[0]
        if not all(hasattr(protocol, name) for name in ("sendMessage", "sendClose", "STATE_OPEN", "send_queue")):
            return None
        transport = getattr(protocol, "transport", None)
        while transport is not None and not hasattr(transport, "_tempDataLen"):
            transport = getattr(transport, "transport", None)  # TLS wraps the TCP transport
        if transport is None or not hasattr(transport, "dataBuffer"):
            return None
        return cls(protocol, transport)

    def pending(self):
        """Bytes written but not yet taken by the kernel."""
        transport = self.transport
        return len(transport.dataBuffer) - transport.offset + transport._tempDataLen

    def write(self, text):
        protocol = self.protocol
        if protocol.state != self.open:
            return  # closing: Daphne would drop it too
        if protocol.send_queue or protocol._perMessageCompress is not None:
            protocol.sendMessage(text.encode())  # autobahn's own path (not used by Daphne today)
            return
        frame = _frame(text)
        transport = self.transport
        if self.direct and transport.connected and not transport.disconnecting and not self.pending():
            try:
                sent = transport.socket.send(frame)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError:
                sent = 0  # Twisted's own write finds the error and closes the connection
            if sent == len(frame):
                return
            frame = frame[sent:]
        protocol.transport.write(frame)

    def close(self, code, reason):
        self.protocol.sendClose(code=code, reason=reason)


_last_frame = (None, b"")


def _frame(text):
    """An unmasked, unfragmented server text frame; the frame of the text last framed is reused."""
    global _last_frame
    if _last_frame[0] is text:
        return _last_frame[1]
    payload = text.encode()
    size = len(payload)
    if size < 126:
        header = bytes((0x81, size))
    elif size < 65536:
        header = b"\x81\x7e" + size.to_bytes(2, "big")
    else:
        header = b"\x81\x7f" + size.to_bytes(8, "big")
    _last_frame = (text, header + payload)
    return _last_frame[1]
