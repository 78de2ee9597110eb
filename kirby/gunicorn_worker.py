"""gunicorn's sync worker, sending each answer's head together with its body.

gunicorn writes a response's status line and headers in one send and its body in
the next. An instance killed between the two leaves nginx holding a head it has
already passed on to the client (nginx forwards the head as soon as it has it,
whatever its buffering): the client gets a cut answer and no proxy can retry it.
Sent in one write, an answer reaches nginx whole or not at all, and a GET that
got nothing is retried on another instance (``proxy_next_upstream error``).

One write is all-or-nothing when the kernel takes it without waiting for room,
so the socket's send buffer is made large enough for any API page (a 1000-candle
page is ~90 KB; the kernel caps the size at twice ``net.core.wmem_max``).
Only a body streamed in several parts (large exports) can still be cut, after
its first part. Selected in kirby/gunicorn_conf.py.
"""

import socket

from gunicorn.workers.sync import SyncWorker

SEND_BUFFER_BYTES = 4 * 1024 * 1024


class WholeAnswerSyncWorker(SyncWorker):
    def handle_request(self, listener, req, client, addr):
        client.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER_BYTES)
        held = HeadWithBody(client)
        result = super().handle_request(listener, req, held, addr)
        # An answer without a body (HEAD, 304) ends here. One that failed half way (an exception,
        # gunicorn shuts the socket down) never gets here: its held head is dropped, nothing was
        # sent, and nginx retries the request elsewhere or answers 502 rather than a cut 200.
        held.flush()
        return result


class HeadWithBody:
    """The client socket, holding the first write (gunicorn's response head) until the next one goes."""

    def __init__(self, sock):
        self._sock = sock
        self._held = None  # None: nothing written yet

    def sendall(self, data):
        if self._held is None:
            self._held = bytes(data)
        elif self._held and not data:
            pass  # an empty first part of a body: the head waits for bytes to go with
        else:
            held, self._held = self._held, b""
            self._sock.sendall(held + data if held else data)

    def sendfile(self, file, offset=0, count=None):
        self.flush()
        return self._sock.sendfile(file, offset, count)

    def flush(self):
        if self._held:
            self._sock.sendall(self._held)
        self._held = b""

    def __getattr__(self, name):
        return getattr(self._sock, name)
