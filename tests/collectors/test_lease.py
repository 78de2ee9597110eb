"""Stream leases in Redis: one holder at a time, lapsing when not renewed."""

import time
import uuid

from apps.collectors.lease import Lease, holder, is_held, lease_key
from lib.redis import client
from tests.waiting import wait_for


def name():
    return f"test/{uuid.uuid4().hex[:8]}"


def remaining_ms(stream):
    return client().pttl(lease_key(stream))


def test_only_one_holder_at_a_time():
    stream = name()
    first, second = Lease(stream, 5), Lease(stream, 5)

    assert first.acquire() is True
    assert second.acquire() is False
    assert holder(stream) == first.token
    first.release()


def test_a_lease_lapses_when_its_holder_stops_renewing():
    stream = name()
    dead, successor = Lease(stream, 0.3), Lease(stream, 5)
    dead.acquire()

    wait_for(lambda: not is_held(stream), 5, "the lease to lapse", interval=0.02)

    assert not is_held(stream)
    assert successor.acquire() is True
    assert dead.renew() is False  # the lapsed holder cannot take it back
    dead.release()  # nor free the successor's
    assert holder(stream) == successor.token
    successor.release()


def test_renewal_keeps_the_lease():
    stream = name()
    lease = Lease(stream, 1)
    lease.acquire()
    acquired = time.monotonic()

    # Renew whenever the lease has aged 0.3 s (Redis' clock, not a sleep), four times: past its first second.
    for _ in range(4):
        fresh = remaining_ms(stream)
        wait_for(lambda fresh=fresh: remaining_ms(stream) <= fresh - 300, 5, "the lease to age", interval=0.02)
        aged = remaining_ms(stream)
        assert lease.renew() is True
        assert remaining_ms(stream) > aged  # the renewal restarted the lease's time

    assert time.monotonic() - acquired > 1
    assert is_held(stream)
    lease.release()
    assert not is_held(stream)
