"""A private redis-server on a free port, for tests that stop and start Redis under running processes.

redis-server cannot bind port 0 (it means "no TCP"), and a restart must come back on the same port, so the
port is picked in advance; a first start that finds it taken (another pytest-xdist worker got there first)
picks another one. Ready means *this* server answers: its INFO names its own process.
"""

import shutil
import subprocess
import tempfile
import time
from contextlib import contextmanager

import redis

from tests.faults.cluster import free_port


class RedisServer:
    def __init__(self):
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="kirby-redis-")
        self.process = None

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, attempts=5):
        first = self.process is None
        for attempt in range(attempts):
            # No persistence: a restart comes back empty, the hardest case for leases and queues.
            self.process = subprocess.Popen(
                ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                 "--dir", self.dir],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            if self._ready():
                return
            if not first or attempt == attempts - 1:
                raise AssertionError(f"redis-server could not listen on {self.port}")
            self.port = free_port()

    def _ready(self):
        """True once this server answers; False if it exited (its port was taken)."""
        client = redis.Redis.from_url(self.url, socket_connect_timeout=1, socket_timeout=1)
        deadline = time.monotonic() + 10
        while self.process.poll() is None:
            try:
                if client.info("server")["process_id"] == self.process.pid:
                    return True
            except (redis.ConnectionError, redis.TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"redis-server on {self.port} did not answer within 10 s")
            time.sleep(0.05)
        return False

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


@contextmanager
def private_redis():
    server = RedisServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.dir, ignore_errors=True)
