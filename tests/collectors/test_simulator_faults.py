"""The simulator's faults, control API and replay mode, over real sockets."""

import asyncio
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import aiohttp
import pytest

from apps.collectors.simulator.market import Market
from apps.collectors.simulator.testing import Client, Closed, is_candle, sync

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "exchanges" / "hyperliquid"
BTC_1M = {"type": "candle", "coin": "BTC", "interval": "1m"}


async def control(session, handle, path, body=None):
    async with session.post(f"{handle.url}/control/{path}", json=body) as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def stats(session, handle):
    async with session.get(f"{handle.url}/control/stats") as response:
        return await response.json()


async def stats_once(session, handle, condition, timeout=5.0):
    """The simulator's stats once ``condition`` holds for them (the last ones read after ``timeout``)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition(current := await stats(session, handle)) and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.02)
    return current


def kind(text):
    """Which of the malformed kinds a frame is, or ``valid``."""
    try:
        frame = json.loads(text)
    except ValueError:
        return "invalid-json"
    if isinstance(frame, list):
        return "json-array"
    if frame.get("channel") != "candle":
        return "unknown-channel"
    if frame["data"] is None:
        return "null-data"
    if frame["data"]["t"] == "notanumber":
        return "bad-open-time"
    return "valid" if "c" in frame["data"] else "missing-close"


@sync
async def test_drop_aborts_every_socket_without_a_close_frame(simulator):
    handle = simulator()
    async with aiohttp.ClientSession() as session:
        clients = [await Client.connect(session, handle.ws_url) for _ in range(2)]
        for client in clients:
            await client.subscribe(BTC_1M)

        dropped = await control(session, handle, "drop")
        endings = []
        for client in clients:
            with pytest.raises(Closed) as closed:
                await client.collect(2)
            endings.append((closed.value.message.type, client.ws.close_code))
        after = await stats_once(session, handle, lambda s: s["connections"] == 0)

    assert dropped == {"dropped": 2}
    assert endings == [(aiohttp.WSMsgType.CLOSED, 1006)] * 2
    assert after["connections"] == 0


@sync
async def test_silence_sends_nothing_at_all_but_keeps_sockets_open(simulator):
    handle = simulator()
    async with aiohttp.ClientSession() as session:
        client = await Client.connect(session, handle.ws_url)
        await client.subscribe(BTC_1M)
        await client.until(is_candle)

        started = asyncio.get_running_loop().time()
        await control(session, handle, "silence", {"seconds": 1.5})
        await client.collect(0.05)
        await client.send({"method": "ping"})
        newcomer = await Client.connect(session, handle.ws_url, greeted=False)
        silent = await client.collect(0.4) + await newcomer.collect(0.01)
        resumed = await client.until(is_candle)
        silence_lasted = asyncio.get_running_loop().time() - started
        await newcomer.send({"method": "ping"})
        newcomer_pong = await newcomer.json()

    assert silent == []
    assert silence_lasted >= 1.5  # the first frame after the silence came once it was over, not before
    assert resumed["data"]["s"] == "BTC" and not client.ws.closed
    assert newcomer_pong == {"channel": "pong"}


@sync
async def test_malformed_frames_replace_the_next_data_frames_cycling_through_six_kinds(simulator):
    handle = simulator()
    async with aiohttp.ClientSession() as session:
        client = await Client.connect(session, handle.ws_url)
        await client.subscribe(BTC_1M)
        await client.until(is_candle)

        assert await control(session, handle, "malformed", {"count": 7}) == {"count": 7, "connections": 1}
        await client.send({"method": "ping"})
        kinds = []
        while len(kinds) < 8:
            text = await client.text()
            if text == '{"channel":"pong"}':
                continue
            if kinds or kind(text) != "valid":
                kinds.append(kind(text))

    assert kinds == [
        "invalid-json", "json-array", "bad-open-time", "missing-close", "unknown-channel", "null-data",
        "invalid-json", "valid",
    ]  # fmt: skip


@sync
async def test_rest_429_refuses_the_next_info_requests_then_serves_again(simulator):
    handle = simulator()
    statuses = []
    async with aiohttp.ClientSession() as session:
        await control(session, handle, "rest-429", {"count": 2})
        for _ in range(3):
            async with session.post(f"{handle.url}/info", json={"type": "meta"}) as response:
                statuses.append(response.status)

    assert statuses == [429, 429, 200]


# A kind the venue's book never takes (it would never fire), an unknown venue, no count.
REFUSED_BOOK_FAULTS = [
    {"venue": "coinbase", "kind": "gap", "count": 1},
    {"venue": "okx", "kind": "stale-snapshot", "count": 1},
    {"venue": "nowhere", "kind": "gap", "count": 1},
    {"venue": ["okx"], "kind": "gap", "count": 1},
    {"venue": "okx", "kind": "gap"},
]


@sync
async def test_book_fault_takes_each_venues_own_kinds_and_refuses_the_rest_naming_the_parameter(simulator):
    handle = simulator()
    refused = []
    async with aiohttp.ClientSession() as session:
        set_okx = await control(session, handle, "book-fault", {"venue": "okx", "kind": "gap", "count": 2})
        set_coinbase = await control(
            session, handle, "book-fault", {"venue": "coinbase", "kind": "crossed", "count": 1}
        )
        for body in REFUSED_BOOK_FAULTS:
            async with session.post(f"{handle.url}/control/book-fault", json=body) as response:
                refused.append((response.status, (await response.json())["error"].split()[0]))
        taken = [handle.state.faults.take_book_fault("okx", "gap") for _ in range(3)]
        other_venue = handle.state.faults.take_book_fault("bybit", "crossed")
        await control(session, handle, "reset")
        after_reset = handle.state.faults.take_book_fault("coinbase", "crossed")

    assert set_okx == {"venue": "okx", "kind": "gap", "count": 2}
    assert set_coinbase == {"venue": "coinbase", "kind": "crossed", "count": 1}
    assert refused == [(400, "kind"), (400, "kind"), (400, "venue"), (400, "venue"), (400, "count")]
    assert (taken, other_venue, after_reset) == ([True, True, False], False, False)


@sync
async def test_flood_bursts_growing_updates_that_end_at_the_truth(simulator):
    start = int(datetime(2025, 3, 20, 12, 50, tzinfo=UTC).timestamp() * 1000)
    handle = simulator(speed=60, start_ms=start, update_interval=30)
    subscription = {"type": "candle", "coin": "BTC", "interval": "1h"}
    async with aiohttp.ClientSession() as session:
        client = await Client.connect(session, handle.ws_url)
        await client.subscribe(subscription)
        await client.until(is_candle)

        result = await control(session, handle, "flood", {"messages": 100, "coin": "BTC", "interval": "1h"})
        pushes = [json.loads(await client.text())["data"] for _ in range(100)]
        extra = await client.collect(0.1)

    hour = start - start % 3_600_000
    assert (result["sent"], result["connections"]) == (100, 1) and result["seconds"] < 5
    assert {push["t"] for push in pushes} == {hour}
    assert all(b["n"] == a["n"] + 1 for a, b in zip(pushes, pushes[1:]))
    assert all(Decimal(b["v"]) > Decimal(a["v"]) for a, b in zip(pushes, pushes[1:]))
    assert pushes[-1] == Market(42).candle("BTC", "1h", hour, until_ms=result["virtual_time_ms"]).to_wire()
    assert extra == []


@sync
async def test_stats_count_connections_subscriptions_frames_and_virtual_time(simulator):
    handle = simulator(speed=1, start_ms=1_742_472_000_000, update_interval=30, ctx_interval=30)
    async with aiohttp.ClientSession() as session:
        client = await Client.connect(session, handle.ws_url)
        await client.subscribe(BTC_1M)
        await client.subscribe({"type": "activeAssetCtx", "coin": "ETH"})
        await client.collect(0.1)
        report = await stats(session, handle)

    assert report["connections"] == 1
    assert report["subscriptions"] == [BTC_1M, {"type": "activeAssetCtx", "coin": "ETH"}]
    assert report["frames_sent"] == client_frames_expected(report)
    assert 1_742_472_000_000 <= report["virtual_now_ms"] < 1_742_472_000_000 + 5_000


def client_frames_expected(report):
    """Greeting, two acks, one asset context and (if the minute has traded yet) one candle."""
    candle = Market(42).candle("BTC", "1m", 1_742_472_000_000, until_ms=report["virtual_now_ms"])
    return 4 + (candle is not None)


@sync
async def test_reset_clears_faults_and_logs(simulator):
    handle = simulator(ctx_interval=30)
    async with aiohttp.ClientSession() as session:
        client = await Client.connect(session, handle.ws_url)
        await client.subscribe({"type": "activeAssetCtx", "coin": "SOL"})
        await client.until(lambda frame: frame["channel"] == "activeAssetCtx")
        await control(session, handle, "malformed", {"count": 3})
        await control(session, handle, "rest-429", {"count": 3})
        await control(session, handle, "silence", {"seconds": 30})

        assert await control(session, handle, "reset") == {"reset": True}
        await client.send({"method": "ping"})
        pong = await client.json()
        async with session.post(f"{handle.url}/info", json={"type": "meta"}) as response:
            status = response.status
        async with session.get(f"{handle.url}/control/ctx-log") as response:
            log = await response.json()

    assert (pong, status, log) == ({"channel": "pong"}, 200, [])
    assert handle.state.frames_sent == 1


@sync
async def test_replay_sends_the_recorded_lines_byte_for_byte_after_the_first_subscribe(simulator):
    files = [FIXTURES / "candles.ndjson", FIXTURES / "funding_oi.ndjson", FIXTURES / "orderbook.ndjson"]
    handle = simulator(replay=files)
    lines = [line for path in files for line in path.read_bytes().split(b"\n") if line]
    async with aiohttp.ClientSession() as session:
        client = await Client.connect(session, handle.ws_url)
        before = await client.collect(0.1)
        await client.subscribe(BTC_1M)
        replayed = [(await client.text()).encode() for _ in lines]
        after = await client.collect(0.1)

    assert before == [] and after == []
    assert replayed == lines
