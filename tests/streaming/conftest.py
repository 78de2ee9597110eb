"""Shared pieces for the /ws tests: Kirby's real ASGI application, real Redis, committed rows.

Consumers read the database from worker threads, so the world is committed
(``world_committed``); rows are written through the one write path,
``apps.marketdata.writer``, whose signal after commit is what the stream
publishes.
"""

import asyncio
import json
from datetime import timedelta
from decimal import Decimal

import pytest
import pytest_asyncio
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from apps.marketdata.records import FundingRecord, OpenInterestRecord
from apps.marketdata.writer import write_candles, write_funding, write_open_interest
from apps.streaming import hub as hub_module
from kirby.asgi import application
from tests.conftest import candle, make_key, utc

T0 = utc(2026, 11, 20, 0, 0)


def minutes(n):
    return T0 + timedelta(minutes=n)


def funding(pair, time, rate="0.0000125", premium="-0.0003", mark="91234.5"):
    return FundingRecord(pair.id, time, Decimal(rate), Decimal(premium), Decimal(mark), None, None, None, None)


def open_interest(pair, time, amount="12345.678"):
    return OpenInterestRecord(pair.id, time, Decimal(amount), Decimal("1100000000.5"), None, None)


@database_sync_to_async
def write(kind, records, **options):
    """Store through the write path in a worker thread (committed, so the signal fires)."""
    writer = {"candles": write_candles, "funding": write_funding, "open_interest": write_open_interest}[kind]
    return writer(records, **options)


@sync_to_async
def rest(client, path):
    response = client.get(path)
    assert response.status_code == 200, response.content
    return response.json()


class Connection:
    """A WebsocketCommunicator with JSON helpers."""

    def __init__(self, path="/ws", headers=None):
        self.communicator = WebsocketCommunicator(application, path, headers=headers or [])

    async def open(self):
        connected, _ = await self.communicator.connect(timeout=5)
        assert connected
        return self

    async def send(self, message):
        if isinstance(message, bytes):
            await self.communicator.send_input({"type": "websocket.receive", "bytes": message})
        else:
            text = message if isinstance(message, str) else json.dumps(message)
            await self.communicator.send_input({"type": "websocket.receive", "text": text})

    async def receive(self, timeout=5):
        return json.loads(await self.communicator.receive_from(timeout=timeout))

    async def request(self, message, timeout=5):
        await self.send(message)
        return await self.receive(timeout)

    async def receive_until(self, message_type, timeout=5):
        """Messages up to and including the first of ``message_type`` (heartbeats included)."""
        seen = []
        while not seen or seen[-1]["type"] != message_type:
            seen.append(await self.receive(timeout))
        return seen

    async def nothing(self, timeout=0.3):
        return await self.communicator.receive_nothing(timeout=timeout)

    async def close(self):
        await self.communicator.disconnect()


@pytest.fixture
def stream_key(transactional_db, django_db_serialized_rollback):
    """A read key, committed: consumers look keys up from worker threads."""
    return make_key()


@pytest_asyncio.fixture
async def connect(stream_key):
    """Open connections (with a read key unless the path or headers bring one); all closed when the test ends."""
    opened = []

    async def open_connection(path="/ws", headers=None, key=stream_key):
        """``key`` goes in the query string; None sends none (the path or headers may carry one)."""
        if key is not None:
            path += ("&" if "?" in path else "?") + f"api_key={key}"
        connection = Connection(path, headers)
        opened.append(connection)
        return await connection.open()

    yield open_connection
    for connection in opened:
        try:
            await connection.close()
        except Exception:
            pass
    leftover = hub_module._hubs.get(asyncio.get_running_loop())
    if leftover is not None:
        await leftover.stop()


@pytest.fixture
def stream_world(world_committed, stream_key):
    """The test world plus an inactive starlisting and a little stored history (no live messages)."""
    world = world_committed
    world.key = stream_key
    world.sol_1h_inactive = world.starlisting(world.sol_pair, "1h", active=False)
    write_candles([candle(world.btc_1m, minutes(i), close=str(100 + i)) for i in range(5)], publish=False)
    write_candles([candle(world.btc_1h, T0 + timedelta(hours=i)) for i in range(2)], publish=False)
    write_funding([funding(world.btc_pair, minutes(i * 60)) for i in range(3)], publish=False)
    write_open_interest([open_interest(world.btc_pair, minutes(i)) for i in range(4)], publish=False)
    return world
