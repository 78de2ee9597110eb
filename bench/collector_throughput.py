"""Collector throughput: candle updates per second parsed and stored by one collector process, per venue.

For each venue (Hyperliquid; Binance and Bybit spot klines; OKX spot candles;
Coinbase spot trades, one per message, which Kirby aggregates into candles
itself, so its figure is trades aggregated per second) a
flood of updates of the open day candle of 20 coins is sent over a real
WebSocket by ``bench/frame_sender.py``: frames pre-rendered to their
WebSocket bytes, written as fast as the socket takes them, in a process of
its own, so the sender is not what limits the rate (the exchange simulator,
which renders and sends each frame through Python's WebSocket layer, was:
about 8,000 frames/s). The simulator still answers the REST history the
stream reads on its first push of each series.
Baseline: a no-op consumer (a bare aiohttp WebSocket client that only counts
frames) reading the same flood: the send rate a client can be fed at here.
Kirby: the real stream (parse, candle closing, batching) and batcher (the one
write path into PostgreSQL) in one process; the clock stops when every
update has been received and the last batch is committed. Prints both rates
and their ratio. Targets: at least 20,000 candle updates/s stored, and at
least half the send rate. No HTTP request is made, so API keys play no part.

    .venv/bin/python bench/collector_throughput.py [--messages 20000] [--coins 20] [--venues hyperliquid,okx]
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

# The day's candle: open at any time of day, so the flood is all updates of one open candle.
INTERVAL = "1d"
DAY_MS = 86_400_000
# The batcher's spool lives in Redis: the bench's own database, not the default one another Kirby (or another
# bench run) spools to. A spool holding anything sends every batch through Redis and the replayer, and its
# leftovers would be replayed into this bench's database.
BENCH_REDIS_URL = os.environ.get("KIRBY_BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(url, body):
    import json

    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=600) as response:
        return json.loads(response.read())


def spawn(command, ready):
    """A child process running ``command``, once its first line contains ``ready``; (process, that line)."""
    process = subprocess.Popen(
        command, cwd=common.REPO, env=common.bench_environment(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    line = process.stdout.readline()
    if ready not in line:
        process.kill()
        raise SystemExit(f"{command[1]} did not start: {line}")
    return process, line


def start_simulator(port):
    command = [sys.executable, "-m", "apps.collectors.simulator", "--port", str(port), "--update-interval", "3600",
               "--ctx-interval", "3600", "--speed", "1"]  # fmt: skip
    return spawn(command, "listening")[0]


def start_sender():
    """The frame sender and its port."""
    process, line = spawn([sys.executable, str(Path(__file__).with_name("frame_sender.py"))], "listening on")
    return process, int(line.split()[-1])


class Venue:
    """How to talk to one simulated venue: its WebSocket, its subscribe messages, the frames to count."""

    def __init__(self, name, adapter, path, marker, subscribe):
        self.name, self.adapter, self.path = name, adapter, path
        self.marker, self.subscribe = marker, subscribe


VENUES = {
    "hyperliquid": Venue(
        "Hyperliquid", "hyperliquid", "/ws", '"candle"',
        lambda coins: [{"method": "subscribe", "subscription": {"type": "candle", "coin": c, "interval": INTERVAL}}
                       for c in coins],
    ),
    "binance": Venue(
        "Binance spot", "binance", "/stream", '"kline"',
        lambda coins: [{"method": "SUBSCRIBE", "params": [f"{c.lower()}usdt@kline_{INTERVAL}" for c in coins],
                        "id": 1}],
    ),
    "bybit": Venue(
        "Bybit spot", "bybit", "/v5/public/spot", '"kline.',
        lambda coins: [{"op": "subscribe", "args": [f"kline.D.{c}USDT" for c in coins[i:i + 10]]}
                       for i in range(0, len(coins), 10)],
    ),
    "okx": Venue(
        "OKX spot", "okx", "/ws/v5/business", '"candle1Dutc"',
        lambda coins: [{"op": "subscribe", "args": [{"channel": "candle1Dutc", "instId": f"{c}-USDT"} for c in coins]}],
    ),
    "coinbase": Venue(
        "Coinbase spot", "coinbase", "/coinbase/ws", '"market_trades","client_id"',
        lambda coins: [{"type": "subscribe", "channel": channel, "product_ids": [f"{c}-USD" for c in coins]}
                       for channel in ("market_trades", "heartbeats")],
    ),
}  # fmt: skip


def prepare_flood(sender, venue, coins, messages, kind="candles"):
    """Have the sender render the flood (before any clock starts): ``messages`` updates of each coin's day
    candle, or (``kind="trades"``) ``messages`` trades of each coin stamped now."""
    now_ms = int(time.time() * 1000)
    open_ms = now_ms if kind == "trades" else now_ms // DAY_MS * DAY_MS
    post(f"{sender}/prepare", {"venue": venue.adapter, "coins": coins, "messages": messages, "open_ms": open_ms,
                               "kind": kind})  # fmt: skip


def flood(sender):
    """Send the prepared flood to every connection; returns when the sender's sockets have taken it all."""
    return post(f"{sender}/flood", {})


async def bare_consumer(venue, sender, coins, messages, kind="candles"):
    """The baseline: a bare aiohttp client that only counts the flood's frames; (received, seconds)."""
    import aiohttp

    ws_url = "ws" + sender.removeprefix("http") + venue.path
    async with aiohttp.ClientSession() as session, session.ws_connect(ws_url, max_msg_size=0) as ws:
        for message in venue.subscribe(coins):
            await ws.send_json(message)
        # The sender answers nothing: the first frame this client reads is the flood's.
        expected, received = messages * len(coins), 0
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, prepare_flood, sender, venue, coins, messages, kind)
        started = time.perf_counter()
        sending = loop.run_in_executor(None, flood, sender)
        while received < expected:
            message = await ws.receive(timeout=60)
            if message.type == aiohttp.WSMsgType.TEXT and venue.marker in message.data:
                received += 1
        elapsed = time.perf_counter() - started
        await sending
        return received, elapsed


class StreamRun:
    """One real collector stream (the real batcher, writing to the bench database) in a thread, subscribed to
    ``coins``; ``timed_flood`` times a prepared flood until every frame is handled and stored."""

    def __init__(self, venue, coins):
        from apps.collectors.batcher import Batcher
        from apps.collectors.exchanges import get_adapter
        from apps.collectors.stream import Stream

        self.written = []
        from django.conf import settings

        # As the collector's worker makes it (apps.collectors.tasks): the settings' batch size and period.
        self.batcher = Batcher(flush_seconds=settings.KIRBY_COLLECTOR_FLUSH_SECONDS,
                               batch_size=settings.KIRBY_COLLECTOR_BATCH_SIZE,
                               on_written=lambda kind, result: self.written.append(result))  # fmt: skip
        self.stop = threading.Event()
        self.stream = Stream(get_adapter(venue.adapter), 0, self.batcher, self.stop)
        self.thread = threading.Thread(target=lambda: asyncio.run(self.stream.run()), daemon=True)
        self.thread.start()
        self.deadline = time.monotonic() + 30
        while self.stream.status.doc["subscriptions"] < len(coins) and time.monotonic() < self.deadline:
            time.sleep(0.1)
        if self.stream.status.doc["subscriptions"] < len(coins):
            raise SystemExit(f"the stream subscribed {self.stream.status.doc['subscriptions']} of {len(coins)} series")

    def timed_flood(self, sender, venue, coins, messages, kind="candles"):
        """(frames handled, seconds) of a flood of ``messages`` per coin, stored before the clock stops."""
        prepare_flood(sender, venue, coins, messages, kind)
        if kind == "candles":
            time.sleep(1.5)  # the first-push repairs settle before the clock starts
        self.batcher.flush_now()
        before = self.stream.status.doc["messages"]
        expected = messages * len(coins)
        started = time.perf_counter()
        flood(sender)
        while self.stream.status.doc["messages"] - before < expected:
            time.sleep(0.05)  # the stream thread needs the GIL more than this one needs precision
        self.batcher.flush_now(timeout=120)
        return self.stream.status.doc["messages"] - before, time.perf_counter() - started

    def close(self):
        """Stop the stream; returns the rows the batcher wrote."""
        self.stop.set()
        self.thread.join(30)
        self.batcher.close()
        return sum(r.written for r in self.written)


def kirby_stream(venue, sender, coins, messages):
    from apps.marketdata.models import Candle

    run = StreamRun(venue, coins)
    # One update per coin first: the stream reads each new series' REST history on its first push, untimed.
    prepare_flood(sender, venue, coins, 1)
    flood(sender)
    while run.stream.status.doc["messages"] < len(coins) and time.monotonic() < run.deadline:
        time.sleep(0.05)
    received, elapsed = run.timed_flood(sender, venue, coins, messages)
    written = run.close()
    stored = Candle.objects.filter(
        starlisting__trading_pair__coin__symbol__in=coins, starlisting__trading_pair__exchange__name=venue.adapter
    ).count()
    return received, elapsed, stored, written


def ensure_series(venue, coins):
    """Only ``coins`` active on the venue's exchange; Binance as spot, so only klines compete with the flood."""
    from apps.markets.models import Coin, Exchange, Interval, MarketType, QuoteCurrency, Starlisting, TradingPair

    exchange, _ = Exchange.objects.update_or_create(
        name=venue.adapter, defaults={"display_name": venue.name, "active": True}
    )
    quote, _ = QuoteCurrency.objects.get_or_create(
        symbol="USD" if venue.adapter in ("hyperliquid", "coinbase") else "USDT", defaults={"name": "quote"}
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


def empty_spool(record_class=None):
    """Drop what an interrupted run left spooled: the flood's batches must not queue behind it."""
    from apps.collectors import spool
    from apps.marketdata.records import CandleRecord

    spool.client().delete(spool.key(record_class or CandleRecord))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000, help="updates per coin")
    parser.add_argument("--coins", type=int, default=20)
    parser.add_argument(
        "--venues", default="hyperliquid,binance,bybit,okx,coinbase", help="comma-separated: " + ", ".join(VENUES)
    )
    args = parser.parse_args()
    coins = [f"FLOOD{i:02d}" for i in range(args.coins)]
    venues = [VENUES[name] for name in args.venues.split(",")]

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    sender_process, sender_port = start_sender()
    sender, frames = f"http://127.0.0.1:{sender_port}", f"ws://127.0.0.1:{sender_port}"
    os.environ.update(KIRBY_HYPERLIQUID_WS_URL=f"{frames}/ws", KIRBY_HYPERLIQUID_REST_URL=f"{base}/info",
                      KIRBY_BINANCE_SPOT_WS_URL=f"{frames}/stream", KIRBY_BINANCE_SPOT_REST_URL=base,
                      KIRBY_BYBIT_WS_URL=f"{frames}/v5/public", KIRBY_BYBIT_REST_URL=base,
                      KIRBY_OKX_BUSINESS_WS_URL=f"{frames}/ws/v5/business", KIRBY_OKX_WS_URL=f"{frames}/ws/v5/public",
                      KIRBY_OKX_REST_URL=base, KIRBY_COINBASE_WS_URL=f"{frames}/coinbase/ws",
                      KIRBY_COINBASE_REST_URL=base,
                      KIRBY_COLLECTOR_PING_SECONDS="5", KIRBY_COLLECTOR_QUIET_SECONDS="120",
                      REDIS_URL=BENCH_REDIS_URL)  # fmt: skip
    common.setup()
    empty_spool()
    simulator = start_simulator(port)
    try:
        total = args.messages * len(coins)
        for venue in venues:
            ensure_series(venue, coins)
            print(
                f"collector throughput, {venue.name}: {len(coins)} coins x {args.messages:,} candle updates = {total:,}"
            )
            received, seconds = asyncio.run(bare_consumer(venue, sender, coins, args.messages))
            baseline = common.rate(received, seconds)
            print(f"  no-op consumer (the send rate)       {received:>9,} in {seconds:6.2f} s = {baseline:>9,.0f} /s")
            received, seconds, stored, written = kirby_stream(venue, sender, coins, args.messages)
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
            figure(
                "collector_throughput", f"{venue.name}: stored / send rate",
                kirby, "updates/s", baseline=baseline, baseline_name="no-op consumer", target=(">=", 0.5),
            )  # fmt: skip
    finally:
        for process in (simulator, sender_process):
            process.terminate()
            process.wait(10)


if __name__ == "__main__":
    main()
