"""The outlet under a server whose ``send`` waits for the socket (not Daphne): bounded, in order, closed when behind."""

import asyncio

import pytest

from apps.streaming.outlet import Outlet

pytestmark = pytest.mark.asyncio


class Socket:
    """An ASGI ``send`` that waits while the client is not reading."""

    def __init__(self):
        self.sent = []
        self.reading = asyncio.Event()
        self.reading.set()

    async def send(self, message):
        if message["type"] == "websocket.send":
            await self.reading.wait()
        self.sent.append(message)


async def settle():
    for _ in range(5):
        await asyncio.sleep(0)


async def test_frames_go_out_in_order():
    socket = Socket()
    outlet = Outlet(socket.send, limit=10, on_overflow=lambda: None)

    outlet.put_many(["a", "b", "c"])
    await settle()

    assert [m["text"] for m in socket.sent] == ["a", "b", "c"]
    await outlet.stop()


async def test_a_client_that_stops_reading_is_cut_off_at_the_limit_and_told_why():
    stalled, fast = Socket(), Socket()
    stalled.reading.clear()
    overflows = []
    slow_outlet = Outlet(stalled.send, limit=3, on_overflow=lambda: overflows.append("stalled"))
    fast_outlet = Outlet(fast.send, limit=3, on_overflow=lambda: overflows.append("fast"))

    for n in range(10):
        slow_outlet.put(str(n))
        fast_outlet.put(str(n))
        await settle()

    assert overflows == ["stalled"]
    assert slow_outlet.closed and not slow_outlet.queue
    assert [m["text"] for m in fast.sent] == [str(n) for n in range(10)]
    stalled.reading.set()
    await slow_outlet.close(4008, "Client too slow", last_words='{"type": "error"}')
    assert stalled.sent[-1] == {"type": "websocket.close", "code": 4008, "reason": "Client too slow"}
    assert [m["text"] for m in stalled.sent[:-1]] == ['{"type": "error"}']
    await fast_outlet.stop()
