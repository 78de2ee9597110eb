"""Real Daphne processes and real WebSocket clients for the end-to-end stream tests."""

import asyncio
import base64
import os
import random
import re
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
from django.conf import settings

from tests.processes import database_url
from tests.waiting import wait_for

DAPHNE = Path(sys.executable).parent / "daphne"
LISTENING = re.compile(r"Listening on TCP address [0-9.]+:([0-9]+)")


def free_port():
    """A port free right now, for a client that must name one nothing listens on, or a server that cannot bind
    port 0 itself. Another process may take it before a server binds it: servers the tests start bind port 0
    and report the port they got (``Daphne.port``, the simulator's ``port: 0``)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def server_port(*avoid):
    """A port for a server the test must name before it starts (a Celery worker's ``KIRBY_METRICS_PORT``).

    free_port's ports are ephemeral: any outgoing connection of any process (Redis, PostgreSQL, HTTP) may be
    given that port before the server binds it, which then runs without it. These lie just below the
    kernel's ephemeral range, where no connection is given a port, in a block of their own per xdist worker.
    """
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
    block = range(low - (worker + 1) * 500, low - worker * 500)
    for port in random.sample(block, len(block)):
        if port in avoid:  # already given to a server of the same test that has not bound it yet
            continue
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("0.0.0.0", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {block}")


def server_environment(**overrides):
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": settings.SETTINGS_MODULE,  # the same Redis and database as this process
        "DEBUG": "true",
        "PYTHONUNBUFFERED": "1",
        "DATABASE_URL": database_url(),
        **overrides,
    }


class Daphne:
    """``daphne -b 127.0.0.1 -p 0 kirby.asgi:application`` against the test database and Redis.

    Daphne binds port 0 itself, so two pytest-xdist workers never race for a port picked in advance; ``port`` is
    the one its log says it listens on (at INFO, which the environment keeps unless a test overrides
    KIRBY_LOG_LEVEL), waited for on first use.
    """

    def __init__(self, log_path, api_key=None, application="kirby.asgi:application", **env):
        self.api_key = api_key
        self._port = None
        self.log_path = log_path
        self._log = open(log_path, "w")  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen(
            [str(DAPHNE), "-b", "127.0.0.1", "-p", "0", application],
            cwd=settings.BASE_DIR, env=server_environment(**{"KIRBY_LOG_LEVEL": "INFO", **env}),
            stdout=self._log, stderr=subprocess.STDOUT,
        )  # fmt: skip

    def _listening(self):
        if self._port is None:
            if found := LISTENING.search(self.log()):
                self._port = int(found.group(1))
            elif self.process.poll() is not None:
                raise AssertionError(f"daphne exited with {self.process.returncode}:\n{self.log()[-5000:]}")
        return self._port

    @property
    def port(self):
        return self._port or wait_for(self._listening, 60, f"daphne to listen (log {self.log_path})", interval=0.05)

    @property
    def url(self):
        return f"ws://127.0.0.1:{self.port}/ws" + (f"?api_key={self.api_key}" if self.api_key else "")

    async def ready(self, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"daphne exited with {self.process.returncode}:\n{self.log()[-5000:]}")
            if self._listening() is None:
                await asyncio.sleep(0.05)
                continue
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                writer.close()
                return self
            except OSError:
                await asyncio.sleep(0.1)
        raise AssertionError(f"daphne did not listen within {timeout} s:\n{self.log()[-5000:]}")

    def log(self):
        return Path(self.log_path).read_text()

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


async def subscribe(session, url, ids, history=0):
    """An aiohttp WebSocket, subscribed (the success reply consumed)."""
    socket_ = await session.ws_connect(url, heartbeat=None, max_msg_size=0)
    await socket_.send_json({"action": "subscribe", "starlisting_ids": ids, "history": history})
    reply = await socket_.receive_json(timeout=10)
    assert reply["type"] == "success", reply
    return socket_


async def receive_types(socket_, message_type, count, timeout=10):
    """The next ``count`` messages of ``message_type`` (others, such as heartbeats, are skipped)."""
    found = []
    while len(found) < count:
        message = await socket_.receive(timeout=timeout)
        assert message.type == aiohttp.WSMsgType.TEXT, message
        decoded = message.json()
        if decoded["type"] == message_type:
            found.append(decoded)
    return found


class SilentClient:
    """A raw WebSocket client that sends but never reads (a stalled bot), with a small receive buffer."""

    def __init__(self, port, api_key, receive_buffer=4096):
        self.socket = socket.socket()
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        self.socket.settimeout(10)
        self.socket.connect(("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        self.socket.sendall(
            (
                f"GET /ws?api_key={api_key} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        head = b""
        while not head.endswith(b"\r\n\r\n"):  # nothing else is sent before the first request
            head += self.socket.recv(1)
        assert head.startswith(b"HTTP/1.1 101"), head

    def send_text(self, text):
        payload = text.encode()
        mask = os.urandom(4)
        masked = bytes(byte ^ mask[index % 4] for index, byte in enumerate(payload))
        if len(payload) < 126:
            header = struct.pack("!BB", 0x81, 0x80 | len(payload))
        else:
            header = struct.pack("!BBH", 0x81, 0x80 | 126, len(payload))
        self.socket.sendall(header + mask + masked)

    def drain(self, timeout=10):
        """Read everything until the server ends the connection: (bytes read, how it ended)."""
        self.socket.settimeout(timeout)
        total = bytearray()
        try:
            while True:
                chunk = self.socket.recv(1 << 16)
                if not chunk:
                    return bytes(total), "closed"
                total += chunk
        except ConnectionResetError:
            return bytes(total), "reset"
        except TimeoutError:
            return bytes(total), "still open"

    def close(self):
        self.socket.close()
