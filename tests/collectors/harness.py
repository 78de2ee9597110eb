"""Real processes for end-to-end collector tests: the simulator, Celery workers and beat, streams in a thread.

Workers and beat run as separate processes against the test database and
the test Redis, with the Hyperliquid endpoints pointed at the simulator and
every collector timing shortened so faults resolve in seconds.
"""

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from contextlib import contextmanager
from decimal import Decimal

from django.conf import settings

from apps.collectors.simulator.config import SimulatorConfig
from apps.collectors.simulator.server import run_in_thread
from tests.processes import database_url
from tests.waiting import wait_for  # also re-exported: tests of other apps import it from here

SEED = 42

FAST = {
    "KIRBY_COLLECTOR_PING_SECONDS": "0.5",
    "KIRBY_COLLECTOR_QUIET_SECONDS": "2",
    "KIRBY_COLLECTOR_REFRESH_SECONDS": "1",
    "KIRBY_COLLECTOR_LEASE_SECONDS": "3",
    "KIRBY_COLLECTOR_SUPERVISE_SECONDS": "1",
    "KIRBY_COLLECTOR_FLUSH_SECONDS": "0.2",
    "KIRBY_COLLECTOR_BACKOFF_MAX_SECONDS": "1",
    "KIRBY_CONTEXT_PERIOD_SECONDS": "1",
}


def start_simulator(**overrides):
    options = dict(port=0, seed=SEED, speed=60, update_interval=0.05, ctx_interval=0.2, coins=("BTC", "SOL"))
    options.update(overrides)
    return run_in_thread(SimulatorConfig(**options))


def control(simulator, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"{simulator.url}{path}", data=data, method="POST" if body is not None else "GET",
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"null")


@contextmanager
def simulator_running(**overrides):
    """A simulator (``start_simulator``) for the length of a ``with`` block: a fixture's body."""
    handle = start_simulator(**overrides)
    try:
        yield handle
    finally:
        handle.stop()


@contextmanager
def processes_running(simulator, tmp_path, **env):
    """``Processes`` against ``simulator`` from a Redis without leases or stream documents of earlier tests."""
    from lib.redis import client as redis_client

    redis_client().flushdb()
    running = Processes(simulator, tmp_path)
    running.env.update(env)
    try:
        yield running
    finally:
        running.stop_all()


class Processes:
    """Celery workers and beat started for one test; all stopped at the end."""

    def __init__(self, simulator, tmp_path):
        self.env = {
            **os.environ,
            **FAST,
            # The same Redis and database as this process (SETTINGS_MODULE is None under override_settings).
            "DJANGO_SETTINGS_MODULE": settings.SETTINGS_MODULE or os.environ["DJANGO_SETTINGS_MODULE"],
            "DEBUG": "true",
            "PYTHONUNBUFFERED": "1",
            "DATABASE_URL": database_url(),
            "KIRBY_HYPERLIQUID_WS_URL": simulator.ws_url,
            "KIRBY_HYPERLIQUID_REST_URL": f"{simulator.url}/info",
            "KIRBY_BINANCE_USDM_WS_URL": simulator.binance_usdm_ws_url,
            "KIRBY_BINANCE_SPOT_WS_URL": simulator.binance_spot_ws_url,
            "KIRBY_BINANCE_USDM_PUBLIC_WS_URL": simulator.binance_usdm_public_ws_url,
            "KIRBY_BINANCE_USDM_REST_URL": simulator.url,
            "KIRBY_BINANCE_SPOT_REST_URL": simulator.url,
            "KIRBY_BYBIT_WS_URL": f"ws://{simulator.host}:{simulator.port}/v5/public",
            "KIRBY_BYBIT_REST_URL": simulator.url,
            "KIRBY_OKX_WS_URL": f"ws://{simulator.host}:{simulator.port}/ws/v5/public",
            "KIRBY_OKX_BUSINESS_WS_URL": f"ws://{simulator.host}:{simulator.port}/ws/v5/business",
            "KIRBY_OKX_REST_URL": simulator.url,
            "KIRBY_COINBASE_WS_URL": simulator.coinbase_ws_url,
            "KIRBY_COINBASE_REST_URL": simulator.url,
        }
        self.tmp_path = tmp_path
        self.processes = []

    def _start(self, *args, name):
        log = open(self.tmp_path / f"{name}.log", "w")  # noqa: SIM115 (closed with the process)
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "kirby", *args], cwd=settings.BASE_DIR, env=self.env,
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        process.log_path = log.name
        self.processes.append(process)
        return process

    def worker(self, name="w1", queues="collectors,default"):
        return self._start(
            "worker", "-Q", queues, "--pool", "threads", "--concurrency", "4", "-n", f"{name}@%h",
            "--without-gossip", "--without-mingle", "--loglevel", "INFO", name=name,
        )  # fmt: skip

    def beat(self):
        return self._start(
            "beat", "-S", "celery.beat:PersistentScheduler", "-s", str(self.tmp_path / "beat-schedule"),
            "--pidfile=", "--loglevel", "INFO", name="beat",
        )  # fmt: skip

    def stop(self, process, sig=signal.SIGTERM, timeout=30):
        if process.poll() is None:
            process.send_signal(sig)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def stop_all(self):
        for process in reversed(self.processes):
            self.stop(process)

    def logs(self):
        return "\n".join(f"--- {p.log_path}\n{open(p.log_path).read()[-3000:]}" for p in self.processes)


def as_wire(item):
    """An API candle item in the simulator's terms, for comparison with its truth."""
    return {k: Decimal(item[k]) for k in ("open", "high", "low", "close", "volume")} | {"n": item["num_trades"]}


def truth_wire(candle):
    return {"open": candle.open, "high": candle.high, "low": candle.low, "close": candle.close,
            "volume": candle.volume, "n": candle.trades}  # fmt: skip


class BinanceWorld:
    """BTC/USDT and ETH/USDT perpetuals and BTC/USDT spot of one USDT venue (Binance unless told), with 1m
    starlistings for BTC (committed or not)."""

    def __init__(self, exchange="binance", display_name="Binance"):
        from apps.markets.models import Coin, Exchange, Interval, MarketType, QuoteCurrency, Starlisting, TradingPair

        self.exchange = Exchange.objects.create(name=exchange, display_name=display_name)
        perps = MarketType.objects.get_or_create(name="perps", defaults={"display_name": "Perpetuals"})[0]
        spot = MarketType.objects.get_or_create(name="spot", defaults={"display_name": "Spot"})[0]
        usdt = QuoteCurrency.objects.create(symbol="USDT", name="Tether")
        btc, eth = Coin.objects.create(symbol="BTC", name="Bitcoin"), Coin.objects.create(symbol="ETH", name="Ether")

        def pair(coin, market):
            return TradingPair.objects.create(exchange=self.exchange, coin=coin, quote=usdt, market_type=market)

        self.btc_perp, self.eth_perp, self.btc_spot = pair(btc, perps), pair(eth, perps), pair(btc, spot)
        minute = Interval.objects.get(name="1m")
        self.perp_1m = Starlisting.objects.create(trading_pair=self.btc_perp, interval=minute)
        self.spot_1m = Starlisting.objects.create(trading_pair=self.btc_spot, interval=minute)


class CoinbaseWorld:
    """Coinbase BTC-USD spot with a 1m starlisting."""

    def __init__(self):
        from apps.markets.models import Coin, Exchange, Interval, MarketType, QuoteCurrency, Starlisting, TradingPair

        exchange = Exchange.objects.create(name="coinbase", display_name="Coinbase")
        spot = MarketType.objects.get_or_create(name="spot", defaults={"display_name": "Spot"})[0]
        usd = QuoteCurrency.objects.create(symbol="USD", name="US Dollar")
        btc = Coin.objects.create(symbol="BTC", name="Bitcoin")
        self.btc_usd = TradingPair.objects.create(exchange=exchange, coin=btc, quote=usd, market_type=spot)
        self.btc_1m = Starlisting.objects.create(trading_pair=self.btc_usd, interval=Interval.objects.get(name="1m"))


# Trades and books end to end (tests/collectors/test_*ticks_end_to_end.py, test_binance_books_end_to_end.py).


@contextmanager
def streams_running(exchange, connections=1, books=()):
    """The exchange's streams (connection indexes ``0..connections-1``) in a thread of the test with the real
    batcher, as in a collector worker; point the exchange's URL settings at the simulator first. On leaving:
    the streams stopped, the batcher flushed, and the Redis books ``books`` (name tuples) deleted."""
    from apps.collectors.batcher import Batcher
    from apps.collectors.exchanges import get_adapter
    from apps.collectors.stream import Stream
    from apps.marketdata import live_books

    adapter, stop = get_adapter(exchange), threading.Event()
    batcher = Batcher(flush_seconds=0.2, exchange=exchange, spool=False)
    streams = [Stream(adapter, index, batcher, stop) for index in range(connections)]

    async def run():
        await asyncio.gather(*(stream.run() for stream in streams))

    thread = threading.Thread(target=lambda: asyncio.run(run()), daemon=True)
    thread.start()
    try:
        yield streams
    finally:
        stop.set()
        thread.join(15)
        batcher.close()
        for names in books:
            live_books.client().delete(live_books.book_key(*names))


def collect_ticks(*pairs, trades=True, book=True, depth=5, every_seconds=0.3):
    """Pairs collecting their trades and book (top ``depth`` stored every ``every_seconds``), every starlisting
    switched off: ticks only, candles have their own end-to-end tests."""
    from apps.markets.models import Starlisting

    Starlisting.objects.update(active=False)
    for pair in pairs:
        pair.collect_trades, pair.collect_orderbook = trades, book
        pair.orderbook_depth, pair.orderbook_every_seconds = depth, every_seconds
        pair.save()


def more_trades(count=5, what="trades stored"):
    """Wait until more than ``count`` further trades are stored."""
    from apps.marketdata.models import Trade

    before = Trade.objects.count()
    wait_for(lambda: Trade.objects.count() > before + count, 15, what)


def drop_twice(simulator, stream, trades=5):
    """Drop every connection twice, each time once more than ``trades`` further trades are stored, and wait
    for the stream's reconnect."""
    for _ in range(2):
        more_trades(trades)
        reconnects = stream.status.doc["reconnects"]
        control(simulator, "/control/drop", {})
        wait_for(lambda r=reconnects: stream.status.doc["reconnects"] > r, 15, "the stream reconnected")


def ms(moment):
    """Epoch milliseconds of an aware datetime (the simulator's truth routes take them)."""
    return int(moment.timestamp() * 1000)


def stored_tape(**filters):
    """Stored trades oldest first as (time, trade_id, price, size, side), price and size as plain text (the
    simulator's truth writes them so)."""
    from apps.marketdata.models import Trade

    rows = Trade.objects.filter(**filters).values_list("time", "trade_id", "price", "size", "side")
    # Trades of one millisecond in id order, numeric ids by number ("999" before "1000"), as the venues send them.
    ordered = sorted(rows, key=lambda row: (row[0], len(row[1]), row[1]))
    return [(t, i, format(p, "f"), format(s, "f"), side) for t, i, p, s, side in ordered]


OKX_SWAP, OKX_SPOT = "BTC-USDT-SWAP", "BTC-USDT"


def okx_pairs(book_depth=None):
    """OKX's BTC/USDT swap and spot collecting trades, the swap's book too with ``book_depth``: {inst id: pair}."""
    world = BinanceWorld("okx", "OKX")
    collect_ticks(world.btc_perp, book=book_depth is not None, depth=book_depth or 5)
    collect_ticks(world.btc_spot, book=False)
    return {OKX_SWAP: world.btc_perp, OKX_SPOT: world.btc_spot}


def okx_coins(inst_id, contracts):
    """What Kirby stores of a size OKX sends: a swap's contracts in the coin (ctVal), spot as it is."""
    from apps.collectors.simulator.okx import contract_value

    value = Decimal(contracts)
    return value * contract_value("BTC") if inst_id == OKX_SWAP else value


def okx_tape(simulator, inst_id, pair):
    """(stored, expected): the pair's stored trades oldest first, and the simulator's tape over their span as
    Kirby must store it, both as (time, trade id, price, size in the coin, side)."""
    from datetime import UTC, datetime

    from apps.marketdata.models import Trade

    stored = list(Trade.objects.filter(trading_pair=pair).order_by("time", "trade_id")
                  .values_list("time", "trade_id", "price", "size", "side"))  # fmt: skip
    first, last = ms(stored[0][0]), ms(stored[-1][0])
    truth = control(simulator, f"/truth/trades?exchange=okx&coin={inst_id}&start={first}&end={last + 1}")
    expected = [(datetime.fromtimestamp(int(t["ts"]) / 1000, UTC), t["tradeId"], Decimal(t["px"]),
                 okx_coins(inst_id, t["sz"]), t["side"]) for t in truth]  # fmt: skip
    return stored, expected


def text_levels(levels):
    """A stored snapshot side as ``[[price, size], ...]`` text, as the simulator's true books write levels."""
    return [[format(price, "f"), format(size, "f")] for price, size in levels]


def stored_snapshots(pair):
    """The pair's stored book snapshots, oldest first."""
    from apps.marketdata.models import OrderBookSnapshot

    return list(OrderBookSnapshot.objects.filter(trading_pair=pair).order_by("time"))


async def read_frames(url, frames, until, timeout=15):
    """Send ``frames`` on a WebSocket to ``url``; return every text frame received until ``until(received)`` holds
    (or ``timeout`` seconds pass)."""
    import aiohttp

    received, deadline = [], time.monotonic() + timeout
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        for frame in frames:
            await ws.send_str(frame)
        while not until(received) and time.monotonic() < deadline:
            message = await ws.receive(timeout=deadline - time.monotonic())
            if message.type == aiohttp.WSMsgType.TEXT:
                received.append(message.data)
    return received
