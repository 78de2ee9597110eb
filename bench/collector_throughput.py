"""Collector throughput: candle updates per second parsed and stored by one collector process, per venue.

For each venue (Hyperliquid; Binance spot klines; Coinbase spot trades,
which Kirby aggregates into candles itself) the exchange simulator floods
updates for 20 coins as fast as it can (for Coinbase: market_trades messages
of one trade each, so the figure is trades aggregated per second).
Baseline: a no-op consumer (a bare WebSocket client that only counts frames)
reading the same flood, i.e. the simulator's send rate on this machine.
Kirby: the real stream (parse, candle closing, batching) and batcher (the one
write path into PostgreSQL) in one process; the clock stops when every
update has been received and the last batch is committed. Prints both rates
and their ratio. Target: at least 20,000 candle updates/s stored. No HTTP
request is made, so API keys play no part.

    .venv/bin/python bench/collector_throughput.py [--messages 20000] [--coins 20] \
        [--venues hyperliquid,binance,coinbase]
"""

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common  # noqa: E402
from bench.figures import figure  # noqa: E402

# The day's candle: it already has trades to flood with at any time of day.
INTERVAL = "1d"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(url, body):
    import json

    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=600) as response:
        return json.loads(response.read())


def start_simulator(port):
    process = subprocess.Popen(
        [sys.executable, "-m", "apps.collectors.simulator", "--port", str(port), "--update-interval", "3600",
         "--ctx-interval", "3600", "--speed", "1"],  # fmt: skip
        cwd=common.REPO, env=common.bench_environment(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    line = process.stdout.readline()
    if "listening" not in line:
        process.kill()
        raise SystemExit(f"simulator did not start: {line}")
    return process


class Venue:
    """How to talk to one simulated venue: its WebSocket, its subscribe messages, the frames to count."""

    def __init__(self, name, adapter, path, flood_venue, marker, subscribe):
        self.name, self.adapter, self.path, self.flood_venue = name, adapter, path, flood_venue
        self.marker, self.subscribe = marker, subscribe


VENUES = {
    "hyperliquid": Venue(
        "Hyperliquid", "hyperliquid", "/ws", "hyperliquid", '"candle"',
        lambda coins: [{"method": "subscribe", "subscription": {"type": "candle", "coin": c, "interval": INTERVAL}}
                       for c in coins],
    ),
    "binance": Venue(
        "Binance spot", "binance", "/stream", "binance-spot", '"kline"',
        lambda coins: [{"method": "SUBSCRIBE", "params": [f"{c.lower()}usdt@kline_{INTERVAL}" for c in coins],
                        "id": 1}],
    ),
    # Coinbase publishes trades, not candles: every message is one trade for Kirby to aggregate.
    "coinbase": Venue(
        "Coinbase spot", "coinbase", "/coinbase/ws", "coinbase", '"market_trades","client_id"',
        lambda coins: [{"type": "subscribe", "channel": channel, "product_ids": [f"{c}-USD" for c in coins]}
                       for channel in ("market_trades", "heartbeats")],
    ),
}  # fmt: skip


def flood_all(base, coins, messages, venue):
    """Flood every coin's day candle at once; returns when the simulator has sent everything."""
    threads = [
        threading.Thread(
            target=post,
            args=(f"{base}/control/flood", {"messages": messages, "coin": c, "interval": INTERVAL, "venue": venue}),
        )
        for c in coins
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


async def bare_consumer(venue, base, coins, messages):
    import aiohttp

    ws_url = "ws" + base.removeprefix("http") + venue.path
    async with aiohttp.ClientSession() as session, session.ws_connect(ws_url, max_msg_size=0) as ws:
        for message in venue.subscribe(coins):
            await ws.send_json(message)
        await asyncio.sleep(1.0)
        while True:  # drain acks and the initial pushes
            try:
                await ws.receive(timeout=0.3)
            except TimeoutError:
                break
        expected, received = messages * len(coins), 0
        started = time.perf_counter()
        flood = asyncio.get_running_loop().run_in_executor(None, flood_all, base, coins, messages, venue.flood_venue)
        while received < expected:
            message = await ws.receive(timeout=60)
            if message.type == aiohttp.WSMsgType.TEXT and venue.marker in message.data:
                received += 1
        elapsed = time.perf_counter() - started
        await flood
        return received, elapsed


def kirby_stream(venue, base, coins, messages):
    from apps.collectors.batcher import Batcher
    from apps.collectors.exchanges import get_adapter
    from apps.collectors.stream import Stream
    from apps.marketdata.models import Candle

    written = []
    batcher = Batcher(flush_seconds=1.0, batch_size=5000, on_written=lambda kind, result: written.append(result))
    stop = threading.Event()
    stream = Stream(get_adapter(venue.adapter), 0, batcher, stop)
    thread = threading.Thread(target=lambda: asyncio.run(stream.run()), daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while stream.status.doc["subscriptions"] < len(coins) and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.5)
    batcher.flush_now()
    before = stream.status.doc["messages"]
    expected = messages * len(coins)
    started = time.perf_counter()
    flood_all(base, coins, messages, venue.flood_venue)
    while stream.status.doc["messages"] - before < expected:
        time.sleep(0.005)
    batcher.flush_now(timeout=120)
    elapsed = time.perf_counter() - started
    received = stream.status.doc["messages"] - before
    stop.set()
    thread.join(30)
    batcher.close()
    stored = Candle.objects.filter(
        starlisting__trading_pair__coin__symbol__in=coins, starlisting__trading_pair__exchange__name=venue.adapter
    ).count()
    return received, elapsed, stored, sum(r.written for r in written)


def ensure_series(venue, coins):
    """Only ``coins`` active on the venue's exchange; Binance as spot, so only klines compete with the flood."""
    from apps.markets.models import Coin, Exchange, Interval, MarketType, QuoteCurrency, Starlisting, TradingPair

    exchange, _ = Exchange.objects.update_or_create(
        name=venue.adapter, defaults={"display_name": venue.name, "active": True}
    )
    quote, _ = QuoteCurrency.objects.get_or_create(
        symbol="USDT" if venue.adapter == "binance" else "USD", defaults={"name": "quote"}
    )
    market_type = "perps" if venue.adapter == "hyperliquid" else "spot"
    perps, _ = MarketType.objects.get_or_create(name=market_type, defaults={"display_name": market_type})
    minute = Interval.objects.get(name=INTERVAL)
    TradingPair.objects.filter(exchange=exchange).update(active=False)
    for symbol in coins:
        coin, _ = Coin.objects.get_or_create(symbol=symbol)
        pair, _ = TradingPair.objects.update_or_create(
            exchange=exchange, coin=coin, quote=quote, market_type=perps, defaults={"active": True}
        )
        # Candles only: no activeAssetCtx subscription competes with the flood.
        pair.active = True
        pair.save()
        Starlisting.objects.update_or_create(trading_pair=pair, interval=minute, defaults={"active": True})
    Starlisting.objects.filter(trading_pair__exchange=exchange).exclude(trading_pair__coin__symbol__in=coins).update(
        active=False
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000, help="updates per coin")
    parser.add_argument("--coins", type=int, default=20)
    parser.add_argument(
        "--venues", default="hyperliquid,binance,coinbase", help="comma-separated: hyperliquid, binance, coinbase"
    )
    args = parser.parse_args()
    coins = [f"FLOOD{i:02d}" for i in range(args.coins)]
    venues = [VENUES[name] for name in args.venues.split(",")]

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    os.environ.update(KIRBY_HYPERLIQUID_WS_URL=f"ws://127.0.0.1:{port}/ws", KIRBY_HYPERLIQUID_REST_URL=f"{base}/info",
                      KIRBY_BINANCE_SPOT_WS_URL=f"ws://127.0.0.1:{port}/stream", KIRBY_BINANCE_SPOT_REST_URL=base,
                      KIRBY_COINBASE_WS_URL=f"ws://127.0.0.1:{port}/coinbase/ws", KIRBY_COINBASE_REST_URL=base,
                      KIRBY_COLLECTOR_PING_SECONDS="5", KIRBY_COLLECTOR_QUIET_SECONDS="120")  # fmt: skip
    common.setup()
    simulator = start_simulator(port)
    try:
        total = args.messages * len(coins)
        for venue in venues:
            ensure_series(venue, coins)
            print(
                f"collector throughput, {venue.name}: {len(coins)} coins x {args.messages:,} candle updates = {total:,}"
            )
            received, seconds = asyncio.run(bare_consumer(venue, base, coins, args.messages))
            baseline = common.rate(received, seconds)
            print(f"  no-op consumer (simulator send rate) {received:>9,} in {seconds:6.2f} s = {baseline:>9,.0f} /s")
            received, seconds, stored, written = kirby_stream(venue, base, coins, args.messages)
            kirby = common.rate(received, seconds)
            print(f"  Kirby stream, parsed and stored      {received:>9,} in {seconds:6.2f} s = {kirby:>9,.0f} /s")
            print(f"  rows written {written:,} (updates of one open candle collapse to its latest state);"
                  f" candles {stored}")  # fmt: skip
            print(f"  ratio Kirby / no-op consumer: {kirby / baseline:.2f}   target: >= 20,000 updates/s stored")
            figure(
                "collector_throughput",
                f"{venue.name} candle updates parsed and stored, {len(coins)} coins, one process", kirby,
                "updates/s", baseline=baseline, baseline_name="no-op consumer", target=(">=", 20_000), on="value",
            )  # fmt: skip
            if venue.adapter != "hyperliquid":  # the bar for a new venue: at least half the send rate
                figure(
                    "collector_throughput", f"{venue.name}: stored / simulator send rate",
                    kirby, "updates/s", baseline=baseline, baseline_name="simulator send rate", target=(">=", 0.5),
                )  # fmt: skip
    finally:
        simulator.terminate()
        simulator.wait(10)


if __name__ == "__main__":
    main()
