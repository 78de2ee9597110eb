"""A lease in Redis: at most one holder of a stream at a time, lost if not renewed.

The holder renews well within ``seconds``; a holder that dies (SIGKILL, lost
machine) simply stops renewing and the lease lapses, so the supervisor can
start the stream elsewhere. Renewal and release check the token, so a holder
whose lease lapsed cannot extend or free someone else's.
"""

import os
import socket
import uuid

from lib.redis import client

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


def is_held(name):
    return bool(client().exists(lease_key(name)))


def holder(name):
    value = client().get(lease_key(name))
    return value.decode() if value else None
