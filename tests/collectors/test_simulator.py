"""The simulator's Hyperliquid WebSocket, over real sockets, and its command-line entry points."""

import json
import os
import signal
import subprocess
import sys
import threading
import urllib.request
from decimal import Decimal
from pathlib import Path

import aiohttp
import pytest
from django.apps import apps

from apps.collectors.management.commands.exchange_simulator import Command
from apps.collectors.simulator.cli import config_from_options
from apps.collectors.simulator.config import SimulatorConfig
from apps.collectors.simulator.market import Market, profile
from apps.collectors.simulator.testing import Client, is_candle, sync

CANDLE_KEYS = ["t", "T", "s", "i", "o", "c", "h", "l", "v", "n"]
CTX_KEYS = ["funding", "openInterest", "prevDayPx", "dayNtlVlm", "premium"]
CTX_KEYS += ["oraclePx", "markPx", "midPx", "impactPxs", "dayBaseVlm"]
ROOT = Path(__file__).resolve().parents[2]


def candle_sub(coin="BTC", interval="1m"):
    return {"type": "candle", "coin": coin, "interval": interval}


def as_of_its_trades(candle):
    """The market's candle with exactly the first ``n`` trades: what a push of it must show."""
    market, t = Market(42), candle["t"]
    ticks = [tick for m in range(t, candle["T"], 60_000) for tick in market.ticks(candle["s"], m)]
    return market.candle(candle["s"], candle["i"], t, until_ms=ticks[candle["n"] - 1].time + 1).to_wire()


@sync
async def test_it_greets_a_new_connection_with_the_plain_text_frame(simulator):
    handle = simulator()
    async with aiohttp.ClientSession() as session:
        client = await Client.connect(session, handle.ws_url, greeted=False)

        assert await client.text() == "Websocket connection established."


@sync
async def test_it_acks_a_candle_subscription_and_then_pushes_the_open_candle(simulator):
    handle = simulator()
    subscription = {"coin": "xyz:TSLA", "interval": "1m", "type": "candle"}
    async with aiohttp.ClientSession() as session:
        client = await Client.connect(session, handle.ws_url)
        await client.send({"method": "subscribe", "subscription": subscription})

        ack = await client.json()
        push = (await client.until(is_candle))["data"]

    assert ack == {"channel": "subscriptionResponse", "data": {"method": "subscribe", "subscription": subscription}}
    assert sorted(push) == sorted(CANDLE_KEYS)
    assert (push["s"], push["i"], push["T"]) == ("xyz:TSLA", "1m", push["t"] + 59_999)
    assert push["t"] <= handle.state.clock.now_ms() and push["t"] % 60_000 == 0
    decimals = {"o": profile("xyz:TSLA").px_decimals, "v": profile("xyz:TSLA").sz_decimals}
    for key in "ohlcv":
        assert isinstance(push[key], str)
        assert Decimal(push[key]) > 0
        assert -Decimal(push[key]).as_tuple().exponent == decimals.get(key, decimals["o"])
    assert push == as_of_its_trades(push)


@sync
async def test_it_sends_the_final_candle_before_the_next_one(simulator):
    """About one virtual minute per push, so the last ordinary push of a minute is rarely complete."""
    handle = simulator(speed=3000)
    async with aiohttp.ClientSession() as session:
        client = await Client.connect(session, handle.ws_url)
        await client.subscribe(candle_sub("BTC", "1m"))
        pushes = [json.loads(text)["data"] for text in await client.collect(0.3) if '"candle"' in text]

    rollovers = [i for i in range(1, len(pushes)) if pushes[i]["t"] != pushes[i - 1]["t"]]
    assert len(rollovers) >= 5
    for i in rollovers:
        finished, following = pushes[i - 1], pushes[i]
        assert finished == Market(42).candle("BTC", "1m", finished["t"]).to_wire()
        assert following["t"] > finished["t"]


@sync
async def test_it_varies_the_key_order_of_candle_frames(simulator):
    handle = simulator()
    async with aiohttp.ClientSession() as session:
        client = await Client.connect(session, handle.ws_url)
        await client.subscribe(candle_sub("ETH", "5m"))
        texts = await client.collect(0.3)

    orders = {tuple(key for key, _ in dict(json.loads(text, object_pairs_hook=list))["data"]) for text in texts}
    assert orders == {tuple(CANDLE_KEYS), tuple(sorted(CANDLE_KEYS))}


@sync
async def test_it_pushes_asset_contexts_and_logs_what_it_sent(simulator):
    handle = simulator()
    async with aiohttp.ClientSession() as session:
        client = await Client.connect(session, handle.ws_url)
        ack = await client.subscribe({"type": "activeAssetCtx", "coin": "BTC"})
        frames = [json.loads(text) for text in await client.collect(0.3)]
        async with session.get(f"{handle.url}/control/ctx-log", params={"coin": "BTC"}) as response:
            log = await response.json()

    assert ack["data"]["subscription"] == {"type": "activeAssetCtx", "coin": "BTC"}
    assert len(frames) >= 3 and {frame["channel"] for frame in frames} == {"activeAssetCtx"}
    for frame in frames:
        ctx = frame["data"]["ctx"]
        assert frame["data"]["coin"] == "BTC" and list(ctx) == CTX_KEYS
        assert all(Decimal(value) > 0 for key, value in ctx.items() if key not in ("funding", "premium", "impactPxs"))
        assert [Decimal(px) for px in ctx["impactPxs"]] == sorted(Decimal(px) for px in ctx["impactPxs"])
    assert [entry["ctx"] for entry in log][: len(frames)] == [frame["data"]["ctx"] for frame in frames]
    assert all(entry["coin"] == "BTC" and isinstance(entry["sent_at"], float) for entry in log)


@sync
async def test_quiet_coins_have_null_premium_mid_price_and_impact_prices(simulator):
    handle = simulator()
    async with aiohttp.ClientSession() as session:
        client = await Client.connect(session, handle.ws_url)
        await client.subscribe({"type": "activeAssetCtx", "coin": "QUIETDOG"})
        ctx = (await client.until(lambda frame: frame["channel"] == "activeAssetCtx"))["data"]["ctx"]

    assert (ctx["premium"], ctx["midPx"], ctx["impactPxs"]) == (None, None, None)
    assert Decimal(ctx["markPx"]) > 0 and Decimal(ctx["openInterest"]) > 0


@sync
async def test_it_answers_a_ping_with_a_pong(simulator):
    handle = simulator()
    async with aiohttp.ClientSession() as session:
        client = await Client.connect(session, handle.ws_url)
        await client.send({"method": "ping"})

        assert await client.text() == '{"channel":"pong"}'


@sync
async def test_unsubscribing_acks_and_stops_the_pushes(simulator):
    handle = simulator()
    async with aiohttp.ClientSession() as session:
        client = await Client.connect(session, handle.ws_url)
        await client.subscribe(candle_sub())
        await client.until(is_candle)
        await client.send({"method": "unsubscribe", "subscription": candle_sub()})

        ack = await client.until(lambda frame: frame["channel"] == "subscriptionResponse")
        later = await client.collect(0.2)

    assert ack["data"] == {"method": "unsubscribe", "subscription": candle_sub()}
    assert later == []


@sync
async def test_unsubscribing_what_is_not_subscribed_is_an_error(simulator):
    handle = simulator()
    async with aiohttp.ClientSession() as session:
        client = await Client.connect(session, handle.ws_url)
        await client.send({"method": "unsubscribe", "subscription": candle_sub("ETH")})

        assert await client.json() == {
            "channel": "error",
            "data": 'Already unsubscribed: {"type":"candle","coin":"ETH","interval":"1m"}',
        }


@pytest.mark.parametrize(
    "request_text",
    [
        "this is not json",
        "[1, 2, 3]",
        '{"method": "subscribe", "subscription": {"type": "userFills", "coin": "BTC"}}',
        '{"method": "subscribe", "subscription": {"type": ["candle"], "coin": "BTC"}}',
        '{"method": "subscribe"}',
        '{"method": "subscribe", "subscription": {"type": "candle", "coin": "BTC", "interval": "7m"}}',
        '{"method": "subscribe", "subscription": {"type": "candle", "interval": "1m"}}',
        '{"method": "teleport"}',
    ],
)
@sync
async def test_a_bad_request_gets_an_error_frame_and_no_ack(simulator, request_text):
    handle = simulator()
    async with aiohttp.ClientSession() as session:
        client = await Client.connect(session, handle.ws_url)
        await client.send(request_text)

        reply = await client.json()
        later = await client.collect(0.1)

    assert reply["channel"] == "error" and isinstance(reply["data"], str) and reply["data"]
    assert later == []


@sync
async def test_subscribing_twice_is_an_error(simulator):
    handle = simulator()
    async with aiohttp.ClientSession() as session:
        client = await Client.connect(session, handle.ws_url)
        await client.subscribe(candle_sub())

        again = await client.subscribe(candle_sub())

    assert again["channel"] == "error" and again["data"].startswith("Already subscribed")


def test_the_management_command_turns_its_options_into_a_config():
    parser = Command().create_parser("manage.py", "exchange_simulator")
    argv = "--host 0.0.0.0 --port 9000 --seed 7 --speed 120 --ctx-interval 0.25 --update-interval 0.05"
    argv += " --replay a.ndjson --replay b.ndjson --history-limit 100 --page-limit 10 --coins BTC,kPEPE --start 60000"
    argv += " --binance-connection-seconds 5"

    options = vars(parser.parse_args(argv.split()))

    assert config_from_options(options) == SimulatorConfig(
        host="0.0.0.0",
        port=9000,
        seed=7,
        speed=120,
        start_ms=60_000,
        ctx_interval=0.25,
        update_interval=0.05,
        replay=(Path("a.ndjson"), Path("b.ndjson")),
        history_limit=100,
        page_limit=10,
        coins=("BTC", "kPEPE"),
        binance_connection_seconds=5,
    )


def test_the_command_prints_its_address_serves_and_stops_on_sigterm():
    """Runs ``manage.py exchange_simulator`` when the app is installed, else the module entry point."""
    entry = (
        ["manage.py", "exchange_simulator"]
        if apps.is_installed("apps.collectors")
        else ["-m", "apps.collectors.simulator"]
    )
    process = subprocess.Popen(
        [sys.executable, *entry, "--port", "0", "--speed", "600"],
        cwd=ROOT,
        env={**os.environ, "DEBUG": "true"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    watchdog = threading.Timer(15, process.kill)
    watchdog.start()
    try:
        line = process.stdout.readline().strip()
        url = line.split(" ")[4]
        with urllib.request.urlopen(f"{url}/control/stats", timeout=5) as response:
            stats = json.load(response)
        process.send_signal(signal.SIGTERM)
        returncode = process.wait(10)
    finally:
        watchdog.cancel()
        process.kill()

    assert line == f"Exchange simulator listening on {url} (ws: {url.replace('http', 'ws')}/ws)"
    assert url.startswith("http://127.0.0.1:")
    assert stats["connections"] == 0 and stats["virtual_now_ms"] > 0
    assert returncode == 0
