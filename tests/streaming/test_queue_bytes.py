"""A client that stops reading is closed once its outlet holds more than KIRBY_WS_MAX_QUEUED_BYTES."""

import asyncio

import pytest

from apps.streaming.outlet import Outlet

pytestmark = pytest.mark.asyncio


async def test_the_outlet_closes_on_bytes_before_frames():
    async def never_sent(message):
        await asyncio.Event().wait()

    overflows = []
    outlet = Outlet(never_sent, limit=1000, max_bytes=100, on_overflow=lambda: overflows.append(1))
    for _ in range(3):
        outlet.put("x" * 40)  # the first is being sent; the next two wait
        await asyncio.sleep(0)
    assert not overflows and outlet.queued_bytes == 80
    outlet.put("x" * 40)
    assert overflows == [1] and outlet.overflowed_by == "bytes" and outlet.closed
    await outlet.stop()
