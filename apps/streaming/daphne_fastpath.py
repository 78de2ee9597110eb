"""Text frames written straight into Daphne's Twisted transport, and the size limit on incoming frames.

The one module that knows server internals.

Why: measured with 1,000 clients on one starlisting, going through the ASGI
``send`` (Daphne, autobahn, Twisted) cost about 70 us a client per message,
most of it an epoll registration and an extra loop turn per write; a frame
shared by all clients is also built once here. And Daphne's ``send`` never
waits: its transport buffers whatever the socket does not take, without
bound, so the outlet needs the transport's unsent bytes to notice a client
that is not keeping up. Daphne 4.2 also drops the reason of an ASGI close.

What it relies on: Daphne's ``send`` is ``partial(server.handle_reply,
protocol)``; the protocol is autobahn's (``sendMessage``, ``sendClose``,
``state``, ``STATE_OPEN``, ``send_queue``, ``_perMessageCompress``) over a
Twisted TCP transport (``dataBuffer``, ``offset``, ``_tempDataLen``,
``socket``). An upgrade may rename any of these without an error, so the
first connection of each kind is checked for all of them; when one is
missing, or ``KIRBY_WS_DAPHNE_FASTPATH`` is off, the outlet uses ``send``
alone and a warning says so. Which path a process uses is logged once.
"""

import functools
import logging
import threading

from django.conf import settings

log = logging.getLogger(__name__)

PROTOCOL_ATTRIBUTES = ("sendMessage", "sendClose", "state", "STATE_OPEN", "send_queue", "_perMessageCompress")
TRANSPORT_ATTRIBUTES = ("dataBuffer", "offset", "_tempDataLen", "socket", "connected", "disconnecting", "write")

LIMIT_ATTRIBUTES = ("maxFramePayloadSize", "maxMessagePayloadSize")

FAST = "daphne fast path"
FALLBACK = "asgi send"

_verdicts = {}  # (protocol class, transport class) -> missing attributes (empty: usable)
_lock = threading.Lock()
_mode = {"logged": None}


def socket_behind(send):
    """A ``DaphneSocket`` for the connection behind ``send``, or None to use ``send`` (any other server)."""
    if not _served_by_daphne(send):
        return None
    if not settings.KIRBY_WS_DAPHNE_FASTPATH:
        _announce(FALLBACK, "KIRBY_WS_DAPHNE_FASTPATH is off")
        return None
    if not (isinstance(send, functools.partial) and len(send.args) == 1 and send.func.__name__ == "handle_reply"):
        _announce(FALLBACK, "Daphne's send is no longer partial(Server.handle_reply, protocol)")
        return None
    protocol = send.args[0]
    transport = _tcp_transport(protocol)
    missing = _check(protocol, transport)
    if missing:
        _announce(FALLBACK, f"Daphne internals changed, missing: {', '.join(missing)}")
        return None
    _announce(FAST, None)
    return DaphneSocket(protocol, transport)


def limit_incoming(send, max_bytes):
    """Make Daphne drop a client whose frame or message is over ``max_bytes``; False if it cannot.

    Daphne reads a whole message before the application sees it, up to its
    command-line cap (1 MiB by default in 4.2, none in older releases).
    Autobahn, under it, checks each frame's length in its header
    (``onMessageFrameBegin``) against the protocol's ``maxFramePayloadSize``
    and ``maxMessagePayloadSize``, so the payload of a frame that is too
    large is never read. Set per connection before the handshake is
    accepted, Kirby's limit holds however Daphne was started.
    """
    if not (_served_by_daphne(send) and isinstance(send, functools.partial) and len(send.args) == 1):
        return False
    protocol = send.args[0]
    if not all(hasattr(protocol, name) for name in LIMIT_ATTRIBUTES):
        with _lock:
            warned, _mode["limit_warned"] = _mode.get("limit_warned"), True
        if not warned:
            log.warning("WebSocket frames: no size limit at the server (autobahn's %s are gone)", LIMIT_ATTRIBUTES)
        return False
    protocol.maxFramePayloadSize = protocol.maxMessagePayloadSize = max_bytes
    return True


def _served_by_daphne(send):
    function = send.func if isinstance(send, functools.partial) else send
    server = getattr(function, "__self__", None)
    return type(server).__module__.startswith("daphne.")


def _tcp_transport(protocol):
    """The innermost transport: TLS wraps the TCP one."""
    transport = getattr(protocol, "transport", None)
    while transport is not None and not hasattr(transport, "_tempDataLen"):
        transport = getattr(transport, "transport", None)
    return transport


def _check(protocol, transport):
    kind = (type(protocol), type(transport))
    missing = _verdicts.get(kind)
    if missing is None:
        missing = tuple(f"protocol.{name}" for name in PROTOCOL_ATTRIBUTES if not hasattr(protocol, name))
        if transport is None:
            missing += ("transport._tempDataLen",)
        else:
            missing += tuple(f"transport.{name}" for name in TRANSPORT_ATTRIBUTES if not hasattr(transport, name))
        with _lock:
            _verdicts[kind] = missing
    return missing


def _announce(path, why):
    with _lock:
        if _mode["logged"] == path:
            return
        _mode["logged"] = path
    if path == FAST:
        log.info("WebSocket frames: %s (written to Twisted's transport)", FAST)
    else:
        log.warning("WebSocket frames: %s (%s); no back-pressure from Daphne, close reasons dropped", FALLBACK, why)


class DaphneSocket:
    """Text frames for one Daphne WebSocket connection, written without the ASGI ``send``."""

    def __init__(self, protocol, transport):
        self.protocol = protocol
        self.transport = transport
        self.direct = protocol.transport is transport  # plain TCP: the socket may be written directly
        self.open = protocol.STATE_OPEN

    def pending(self):
        """Bytes written but not yet taken by the kernel."""
        transport = self.transport
        return len(transport.dataBuffer) - transport.offset + transport._tempDataLen

    def write(self, text):
        """A text frame to the socket when nothing waits in Twisted's buffer, else after it in that buffer."""
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
