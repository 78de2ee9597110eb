"""A stream's database work off the event loop hands its connections back to the pool.

Its plan reads, repairs, REST checks and polls run in threads of the loop's
executor, which end with the loop. A connection those threads kept would
stay checked out of the pool for good: a worker that restarts streams, or
runs several one after another, would find the pool empty and its batcher
spooling every batch to Redis.
"""

import asyncio

from django.db import connections

from apps.collectors.stream import _off_loop
from apps.markets.models import Exchange


def checked_out():
    pool = connections["default"].pool
    stats = pool.get_stats()
    return stats["pool_size"] - stats["pool_available"]


def test_connections_used_off_the_loop_return_to_the_pool(world_committed):
    Exchange.objects.create(name="poolcheck", display_name="Pool check")
    count = _off_loop(lambda: Exchange.objects.filter(name="poolcheck").count())
    before = checked_out()

    async def session():
        # Concurrent calls: several executor threads, each with a connection of its own.
        return await asyncio.gather(*(count() for _ in range(3)))

    for _ in range(3):  # each run's executor threads end with its loop
        assert asyncio.run(session()) == [1, 1, 1]
    assert checked_out() <= before  # other tests' threads may hand theirs back meanwhile
