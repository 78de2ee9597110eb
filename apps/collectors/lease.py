"""A lease in Redis: at most one holder of a stream at a time, lost if not renewed.

The holder renews well within ``seconds``; a holder that dies (SIGKILL, lost
machine) simply stops renewing and the lease lapses, so the supervisor can
start the stream elsewhere. Renewal and release check the token, so a holder
whose lease lapsed cannot extend or free someone else's.
"""

import logging
import os
import socket
import threading
import uuid
from contextlib import contextmanager

from lib.redis import client

log = logging.getLogger(__name__)

_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""


def lease_key(name):
    return f"kirby:lease:{name}"


class Lease:
    def __init__(self, name, seconds):
        self.key = lease_key(name)
        self.milliseconds = int(seconds * 1000)
        self.token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    def acquire(self):
        return bool(client().set(self.key, self.token, nx=True, px=self.milliseconds))

    def renew(self):
        return bool(client().eval(_RENEW, 1, self.key, self.token, self.milliseconds))

    def release(self):
        client().eval(_RELEASE, 1, self.key, self.token)

    @contextmanager
    def kept(self):
        """Renewed by a thread three times a term while the block runs.

        A holder whose work has steps longer than the lease (a slow page of
        history) keeps it through them; a holder that dies takes the thread
        with it, and the lease lapses as before. The thread stops at a
        renewal that finds the lease gone: the holder's own ``renew`` then
        tells it.
        """
        stop = threading.Event()

        def keep():
            while not stop.wait(self.milliseconds / 3000):
                try:
                    if not self.renew():
                        return
                except Exception as error:  # Redis away: the lease may lapse; the holder finds out on its next renew
                    log.warning("could not renew lease %s: %s", self.key, error)

        keeper = threading.Thread(target=keep, name=f"lease {self.key}", daemon=True)
        keeper.start()
        try:
            yield self
        finally:
            stop.set()
            keeper.join()


def is_held(name):
    return bool(client().exists(lease_key(name)))


def holder(name):
    value = client().get(lease_key(name))
    return value.decode() if value else None
