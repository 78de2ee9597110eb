"""WebSocket fan-out: 1,000 clients on one starlisting, Kirby's /ws against bare Channels relays.

    .venv/bin/python bench/websocket_fanout.py [--clients 1000] [--steady 60] [--burst 200] [--servers 1]

Candle updates go through the real write path (``write_candles``: commit,
then the ``market_data_written`` signal, then one group message per row)
to clients in a separate process (a small asyncio WebSocket client that
answers pings and reads every frame). Three receivers, one after the other,
each with the same clients, the same Daphne server(s) and the same writes:

- ``kirby``: Kirby's /ws (subscribe, hub, outlet);
- ``channels relay``: a bare ``AsyncWebsocketConsumer`` that joins the same
  group and relays each group message's text (Channels' stock dispatch);
- ``raw relay``: a plain ASGI app doing the same with ``channel_layer.receive``
  and no consumer dispatch at all: the floor of Channels groups.

(a) steady: one candle update per second; latency from commit (an
``on_commit`` hook registered before the write's own) to receipt, p50/p99
over every (update, client). (b) burst: updates written as fast as they
commit; delivered messages per second from the first commit to the last
receipt. Targets: steady p99 < 250 ms, burst >= 0.5 x the bare relay.

Runs against the bench database (``bench/common.py``: ``kirby_bench``) and
Redis database 13 with a channel prefix of its own; servers and clients are
stopped on exit.
"""

import argparse
import asyncio
import base64
import json
import os
import re
import signal
import socket
import statistics
import struct
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common  # noqa: E402

BENCH_REDIS_URL = os.environ.get("KIRBY_BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
SERVER_ENV = {
    "REDIS_URL": BENCH_REDIS_URL,
    "KIRBY_CHANNELS_PREFIX": "kirby-bench-ws",
    "KIRBY_WS_HEARTBEAT_SECONDS": "3600",
}
COIN = "WSFANOUT"
START = datetime(2031, 1, 1, tzinfo=UTC)
RECEIVERS = {"kirby": "/ws?api_key={key}", "channels relay": "/relay/stock/{id}", "raw relay": "/relay/raw/{id}"}
STEADY_P99_TARGET_MS = 250
BURST_RATIO_TARGET = 0.5
QUIET_SECONDS = 3.0  # the clients report when nothing arrived for this long
QUIET_MAX_SECONDS = 300.0
SEQUENCE = re.compile(rb'"num_trades":(\d+)')


# --- the servers' ASGI application: Kirby plus the two relays -------------------------


def __getattr__(name):
    """``bench.websocket_fanout:application`` for Daphne, built on first access."""
    if name != "application":
        raise AttributeError(name)
    global application
    application = _build_application()
    return application


def _build_application():
    from django.core.asgi import get_asgi_application

    get_asgi_application()
    from channels.generic.websocket import AsyncWebsocketConsumer
    from channels.layers import get_channel_layer
    from channels.routing import ProtocolTypeRouter, URLRouter
    from django.urls import re_path

    from kirby.asgi import application as kirby

    class ChannelsRelay(AsyncWebsocketConsumer):
        async def connect(self):
            self.group = f"kirby.candles.{self.scope['url_route']['kwargs']['id']}"
            await self.channel_layer.group_add(self.group, self.channel_name)
            await self.accept()

        async def disconnect(self, code):
            await self.channel_layer.group_discard(self.group, self.channel_name)

        async def stream_push(self, event):
            await self.send(text_data=event["texts"][0][1])

    async def raw_relay(scope, receive, send):
        layer = get_channel_layer()
        channel = await layer.new_channel()
        group = f"kirby.candles.{scope['url_route']['kwargs']['id']}"

        async def relay():
            while True:
                event = await layer.receive(channel)
                await send({"type": "websocket.send", "text": event["texts"][0][1]})

        await receive()  # websocket.connect
        await layer.group_add(group, channel)
        await send({"type": "websocket.accept"})
        relaying = asyncio.ensure_future(relay())
        try:
            while (await receive())["type"] != "websocket.disconnect":
                pass
        finally:
            relaying.cancel()
            await layer.group_discard(group, channel)

    relays = URLRouter(
        [re_path(r"^relay/stock/(?P<id>\d+)$", ChannelsRelay.as_asgi()), re_path(r"^relay/raw/(?P<id>\d+)$", raw_relay)]
    )

    async def websocket(scope, receive, send):
        target = relays if scope["path"].startswith("/relay/") else kirby
        return await target(scope, receive, send)

    return ProtocolTypeRouter({"http": kirby, "websocket": websocket})


# --- the clients' process ---------------------------------------------------------------


class Client(asyncio.Protocol):
    """A minimal WebSocket client: handshake, one subscribe, pongs, and a receipt time per candle."""

    def __init__(self, host, port, path, subscribe, receipts, ready):
        self.request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
        self.subscribe, self.receipts, self.ready = subscribe, receipts, ready
        self.buffer = bytearray()
        self.open = False
        self.closed = asyncio.get_running_loop().create_future()

    def connection_made(self, transport):
        self.transport = transport
        transport.write(self.request)

    def send(self, opcode, payload):
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        size = len(payload)
        header = (
            struct.pack("!BB", 0x80 | opcode, 0x80 | size)
            if size < 126
            else struct.pack("!BBH", 0x80 | opcode, 254, size)
        )
        self.transport.write(header + mask + masked)

    def data_received(self, data):
        now = time.time()
        buffer = self.buffer
        buffer += data
        if not self.open:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            assert buffer.startswith(b"HTTP/1.1 101"), bytes(buffer[:200])
            del buffer[: end + 4]
            self.open = True
            if self.subscribe is None:
                self.ready.set_result(None)
            else:
                self.send(1, self.subscribe)
        start = 0
        while len(buffer) - start >= 2:
            opcode, size = buffer[start] & 0x0F, buffer[start + 1] & 0x7F
            head = 2
            if size == 126:
                if len(buffer) - start < 4:
                    break
                size, head = struct.unpack_from("!H", buffer, start + 2)[0], 4
            elif size == 127:
                if len(buffer) - start < 10:
                    break
                size, head = struct.unpack_from("!Q", buffer, start + 2)[0], 10
            if len(buffer) - start < head + size:
                break
            payload = bytes(buffer[start + head : start + head + size])
            start += head + size
            if opcode == 1:
                found = SEQUENCE.search(payload)
                if found is not None:
                    self.receipts.append((int(found.group(1)), now))
                elif not self.ready.done() and b'"success"' in payload:
                    self.ready.set_result(None)
            elif opcode == 9:
                self.send(10, payload)
            elif opcode == 8:
                self.transport.close()
        del buffer[:start]

    def connection_lost(self, exc):
        if not self.closed.done():
            self.closed.set_result(exc)


async def run_clients(host, port, path, count, starlisting_id):
    """Connect ``count`` clients, say ``ready``, record receipts until ``stop`` on stdin, then report them."""
    loop = asyncio.get_running_loop()
    receipts = []
    subscribe = None
    if path.partition("?")[0] == "/ws":
        subscribe = json.dumps({"action": "subscribe", "starlisting_ids": [starlisting_id]}).encode()
    gate = asyncio.Semaphore(50)  # Twisted listens with a backlog of 50

    async def connect():
        async with gate:
            ready = loop.create_future()
            await loop.create_connection(lambda: Client(host, port, path, subscribe, receipts, ready), host, port)
            await asyncio.wait_for(ready, 30)

    await asyncio.gather(*(connect() for _ in range(count)))
    print("ready", flush=True)
    await loop.run_in_executor(None, sys.stdin.readline)
    # Report once deliveries have stopped for a while (slow receivers may still be catching up).
    deadline = time.time() + QUIET_MAX_SECONDS
    while time.time() < deadline and (not receipts or time.time() - receipts[-1][1] < QUIET_SECONDS):
        await asyncio.sleep(0.2)
    by_sequence = {}
    for sequence, at in receipts:
        by_sequence.setdefault(sequence, []).append(at)
    print(json.dumps(by_sequence), flush=True)


# --- the driver ----------------------------------------------------------------------------


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Processes:
    """Every process the bench starts, each in its own process group, all stopped on exit."""

    def __init__(self, logdir):
        self.logdir = logdir
        self.started = []

    def start(self, name, command, **options):
        log = open(self.logdir / f"{name}.log", "w")  # noqa: SIM115 (closed with the process)
        process = subprocess.Popen(
            command, env=common.bench_environment() | SERVER_ENV, cwd=common.REPO, stderr=log,
            stdout=options.pop("stdout", log), start_new_session=True, text=True, **options,
        )  # fmt: skip
        process.log = log
        self.started.append(process)
        return process

    def stop(self, process):
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        process.log.close()

    def stop_all(self):
        for process in reversed(self.started):
            self.stop(process)


def wait_listening(port, process, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited early; see {process.log.name}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"server on port {port} did not start")


def bench_starlisting():
    """One active 1m starlisting of the bench exchange, without candles from earlier runs."""
    from django.db import connection, transaction

    from apps.markets.models import Coin, Exchange, Interval, MarketType, QuoteCurrency, Starlisting, TradingPair

    with transaction.atomic():
        exchange, _ = Exchange.objects.get_or_create(name=common.EXCHANGE, defaults={"display_name": "Bench Exchange"})
        quote, _ = QuoteCurrency.objects.get_or_create(symbol=common.QUOTE, defaults={"name": "US Dollar"})
        market_type, _ = MarketType.objects.get_or_create(
            name=common.MARKET_TYPE, defaults={"display_name": "Perpetuals"}
        )
        coin, _ = Coin.objects.get_or_create(symbol=COIN)
        pair, _ = TradingPair.objects.get_or_create(exchange=exchange, coin=coin, quote=quote, market_type=market_type)
        starlisting, _ = Starlisting.objects.get_or_create(
            trading_pair=pair, interval=Interval.objects.get(name=common.INTERVAL)
        )
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM candles WHERE starlisting_id = %s", [starlisting.id])
    return starlisting.id


def bench_key():
    """A read key for every client of the run, exempt from the per-key connection limit."""
    from django.contrib.auth import get_user_model

    from apps.access import keys

    user, _ = get_user_model().objects.get_or_create(username="bench-websocket")
    return keys.issue(user, "websocket fan-out bench", unlimited=True)[1]


class Writer:
    """Candle updates through the write path; each one's commit time taken before the fan-out runs."""

    def __init__(self, starlisting_id):
        self.starlisting_id = starlisting_id
        self.sequence = 0
        self.committed = {}

    def update(self):
        from django.db import transaction

        from apps.marketdata.records import CandleRecord
        from apps.marketdata.writer import write_candles

        self.sequence += 1
        n = self.sequence
        price = Decimal(100) + Decimal(n) / 100
        with transaction.atomic():
            transaction.on_commit(lambda: self.committed.__setitem__(n, time.time()))  # runs before the publish
            write_candles(
                [
                    CandleRecord(
                        self.starlisting_id,
                        START + timedelta(minutes=n),
                        price,
                        price,
                        price,
                        price,
                        Decimal(1),
                        n,
                        True,
                    )
                ]
            )
        return n


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def measure(receiver, args, processes, ports, starlisting_id, writer, key):
    """Connect the clients to ``receiver`` on every server, run steady then burst, return the figures."""
    path = RECEIVERS[receiver].format(id=starlisting_id, key=key)
    per_server = args.clients // len(ports)
    clients = [
        processes.start(
            f"clients-{receiver.replace(' ', '-')}-{index}",
            [
                sys.executable,
                __file__,
                "--clients-for",
                f"127.0.0.1:{port}{path}",
                "--clients",
                str(per_server),
                "--starlisting",
                str(starlisting_id),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )  # fmt: skip
        for index, port in enumerate(ports)
    ]
    for process in clients:
        if process.stdout.readline().strip() != "ready":
            raise SystemExit(f"clients did not connect; see {process.log.name}")
    time.sleep(1)
    steady = [writer.update()]
    for _ in range(args.steady - 1):
        time.sleep(1)
        steady.append(writer.update())
    time.sleep(2)
    burst_started = time.time()
    burst = [writer.update() for _ in range(args.burst)]
    burst_written = time.time() - burst_started
    receipts = {}
    for process in clients:
        process.stdin.write("stop\n")
        process.stdin.flush()
        for sequence, times in json.loads(process.stdout.readline()).items():
            receipts.setdefault(int(sequence), []).extend(times)
        processes.stop(process)

    latencies = [(at - writer.committed[n]) * 1000 for n in steady for at in receipts.get(n, [])]
    if args.verbose:
        for n in steady:
            each = [(at - writer.committed[n]) * 1000 for at in receipts.get(n, [])]
            print(f"  update {n}: first {min(each):.1f} ms, median {statistics.median(each):.1f}, last {max(each):.1f}")
    burst_times = [at for n in burst for at in receipts.get(n, [])]
    expected = per_server * len(ports)
    return {
        "p50": percentile(latencies, 0.50),
        "p99": percentile(latencies, 0.99),
        "max": max(latencies),
        "steady_lost": len(steady) * expected - len(latencies),
        "burst_commits_per_s": len(burst) / burst_written,
        "burst_rate": len(burst_times) / (max(burst_times) - writer.committed[burst[0]]),
        "burst_lost": len(burst) * expected - len(burst_times),
        "burst_seconds": max(burst_times) - writer.committed[burst[0]],
    }


def report(results, args):
    print(f"\nWebSocket fan-out: {args.clients} clients on one starlisting, {args.servers} Daphne process(es)")
    print(f"(a) steady: {args.steady} updates at 1/s, latency commit -> receipt over every (update, client)")
    print(f"    {'receiver':<16}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'lost':>7}")
    for name, r in results.items():
        print(f"    {name:<16}{r['p50']:>9.1f}{r['p99']:>9.1f}{r['max']:>9.1f}{r['steady_lost']:>7}")
    print(f"(b) burst: {args.burst} updates written back to back")
    print(f"    {'receiver':<16}{'commits/s':>10}{'delivered/s':>13}{'seconds':>9}{'lost':>7}")
    for name, r in results.items():
        print(
            f"    {name:<16}{r['burst_commits_per_s']:>10.0f}{r['burst_rate']:>13.0f}"
            f"{r['burst_seconds']:>9.2f}{r['burst_lost']:>7}"
        )
    kirby = results["kirby"]
    relays = {name: r for name, r in results.items() if name != "kirby"}
    if not relays:
        return
    print("ratios (kirby / relay):")
    for name, r in relays.items():
        burst, p99 = kirby["burst_rate"] / r["burst_rate"], kirby["p99"] / r["p99"]
        print(f"    {name:<16} burst delivered/s {burst:.2f}   steady p99 {p99:.2f}")
    p99 = kirby["p99"]
    ratio = kirby["burst_rate"] / max(r["burst_rate"] for r in relays.values())
    print("targets:")
    print(f"    steady p99 {p99:.1f} ms < {STEADY_P99_TARGET_MS} ms: {_verdict(p99 < STEADY_P99_TARGET_MS)}")
    print(f"    burst {ratio:.2f} x the faster relay >= {BURST_RATIO_TARGET}: {_verdict(ratio >= BURST_RATIO_TARGET)}")


def _verdict(met):
    return "met" if met else "MISSED"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--steady", type=int, default=60, help="steady updates, one per second")
    parser.add_argument("--burst", type=int, default=200)
    parser.add_argument("--servers", type=int, default=1, help="Daphne processes (clients split evenly)")
    parser.add_argument(
        "--receivers", default=",".join(RECEIVERS), help="comma-separated subset of: " + ", ".join(RECEIVERS)
    )
    parser.add_argument("--verbose", action="store_true", help="latency of each steady update")
    parser.add_argument("--starlisting", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--clients-for", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.clients_for:  # the clients' process
        address, _, path = args.clients_for.partition("/")
        host, _, port = address.partition(":")
        asyncio.run(run_clients(host, int(port), "/" + path, args.clients, args.starlisting))
        return

    os.environ.update(SERVER_ENV)
    common.setup()
    import redis

    redis.Redis.from_url(BENCH_REDIS_URL).flushdb()
    starlisting_id = bench_starlisting()
    writer = Writer(starlisting_id)
    key = bench_key()
    logdir = Path(os.environ.get("TMPDIR", "/tmp")) / "kirby-bench-websocket"
    logdir.mkdir(exist_ok=True)
    processes = Processes(logdir)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    try:
        ports = []
        for index in range(args.servers):
            port = free_port()
            server = processes.start(
                f"daphne-{index}", [str(Path(sys.executable).parent / "daphne"), "-b", "127.0.0.1", "-p", str(port),
                                    "bench.websocket_fanout:application"],
            )  # fmt: skip
            wait_listening(port, server)
            ports.append(port)
        results = {}
        for receiver in args.receivers.split(","):
            print(f"measuring {receiver} ...", flush=True)
            results[receiver] = measure(receiver, args, processes, ports, starlisting_id, writer, key)
        report(results, args)
        print(f"logs: {logdir}")
    finally:
        processes.stop_all()


if __name__ == "__main__":
    main()
