"""Stream leases in Redis: one holder at a time, lapsing when not renewed."""

import time
import uuid

from apps.collectors.lease import Lease, holder, is_held


def name():
    return f"test/{uuid.uuid4().hex[:8]}"


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

    time.sleep(0.5)

    assert not is_held(stream)
    assert successor.acquire() is True
    assert dead.renew() is False  # the lapsed holder cannot take it back
    dead.release()  # nor free the successor's
    assert holder(stream) == successor.token
    successor.release()


def test_renewal_keeps_the_lease():
    stream = name()
    lease = Lease(stream, 0.4)
    lease.acquire()

    for _ in range(4):
        time.sleep(0.2)
        assert lease.renew() is True

    assert is_held(stream)
    lease.release()
    assert not is_held(stream)
