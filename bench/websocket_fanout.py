"""WebSocket fan-out: 1,000 to 10,000 clients, Kirby's /ws against bare Channels relays.

    .venv/bin/python bench/websocket_fanout.py [--clients 1000] [--servers 1] [--steady 60] [--burst 200]
        [--starlistings 1 --per-client 1] [--receivers kirby,channels relay,raw relay]

Candle updates go through the real write path (``write_candles``: commit,
then the ``market_data_written`` signal, then one group message per row)
to clients in separate processes (a small asyncio WebSocket client that
answers pings and reads every frame; several processes, each from its own
loopback address, so the clients are never the bottleneck). Kirby's clients
send a read key, as users must. Three receivers, one after the other, each
with the same clients, the same Daphne server(s) and the same writes:

- ``kirby``: Kirby's /ws (subscribe, hub, outlet);
- ``channels relay``: a bare ``AsyncWebsocketConsumer`` that joins the same
  groups and relays each group message's text (Channels' stock dispatch);
- ``raw relay``: a plain ASGI app doing the same with ``channel_layer.receive``
  and no consumer dispatch at all: the floor of Channels groups.

With ``--servers 2`` two Daphne processes share one address
(``bench/daphne_reuseport.py``: SO_REUSEPORT, the kernel spreads the
connections). ``--starlistings 100 --per-client 10``: every tick updates all
100 starlistings in one write, and each client subscribes to 10 random ones.

(a) steady: one update per starlisting per second; latency from commit (an
``on_commit`` hook registered before the write's own) to receipt, p50/p99
over every (update, client). (b) burst: updates written as fast as they
commit; delivered messages per second from the first commit to the last
receipt. Memory per connection: the servers' resident memory after the
clients subscribed minus before they connected, per client (Kirby only: it
runs first, later receivers reuse what it freed). Targets: steady p99 <
500 ms, burst >= 0.5 x the faster relay.

Runs against the bench database (``bench/common.py``) and Redis database 13
(``KIRBY_BENCH_REDIS_URL``) with a channel prefix of its own; servers and
clients are stopped on exit.
"""

import argparse
import asyncio
import base64
import json
import math
import os
import random
import re
import resource
import signal
import socket
import struct
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common  # noqa: E402
from bench.figures import figure  # noqa: E402

BENCH_REDIS_URL = os.environ.get("KIRBY_BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
SERVER_ENV = {
    "REDIS_URL": BENCH_REDIS_URL,
    "KIRBY_CHANNELS_PREFIX": "kirby-bench-ws",
    "KIRBY_WS_HEARTBEAT_SECONDS": "3600",
}
COIN = "WSFANOUT"
START = datetime(2023, 1, 1, tzinfo=UTC)  # inside the write path's accepted years; rows deleted before each run
RECEIVERS = {"kirby": "/ws?api_key={key}", "channels relay": "/relay/stock/{ids}", "raw relay": "/relay/raw/{ids}"}
STEADY_P99_TARGET_MS = 500
BURST_RATIO_TARGET = 0.5
QUIET_MAX_SECONDS = 420.0  # a bare relay at 10,000 clients takes minutes to catch up
CLIENTS_PER_PROCESS = 2000
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

    def groups_of(scope):
        return [f"kirby.candles.{number}" for number in scope["url_route"]["kwargs"]["ids"].split(",")]

    class ChannelsRelay(AsyncWebsocketConsumer):
        async def connect(self):
            self.relayed = groups_of(self.scope)
            for group in self.relayed:
                await self.channel_layer.group_add(group, self.channel_name)
            await self.accept()

        async def disconnect(self, code):
            for group in self.relayed:
                await self.channel_layer.group_discard(group, self.channel_name)

        async def stream_push(self, event):
            await self.send(text_data=event["texts"][0][1])

    async def raw_relay(scope, receive, send):
        layer = get_channel_layer()
        channel = await layer.new_channel()
        relayed = groups_of(scope)

        async def relay():
            while True:
                event = await layer.receive(channel)
                await send({"type": "websocket.send", "text": event["texts"][0][1]})

        await receive()  # websocket.connect
        for group in relayed:
            await layer.group_add(group, channel)
        await send({"type": "websocket.accept"})
        relaying = asyncio.ensure_future(relay())
        try:
            while (await receive())["type"] != "websocket.disconnect":
                pass
        finally:
            relaying.cancel()
            for group in relayed:
                await layer.group_discard(group, channel)

    relays = URLRouter(
        [
            re_path(r"^relay/stock/(?P<ids>[\d,]+)$", ChannelsRelay.as_asgi()),
            re_path(r"^relay/raw/(?P<ids>[\d,]+)$", raw_relay),
        ]
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
            if not buffer.startswith(b"HTTP/1.1 101"):
                if not self.ready.done():
                    self.ready.set_exception(ConnectionError(bytes(buffer[:200]).decode("latin-1")))
                return
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
                self.text(payload, now)
            elif opcode == 9:
                self.send(10, payload)
            elif opcode == 8:
                self.transport.close()
        del buffer[:start]

    def text(self, payload, now):
        """A text frame: its candle's sequence and receipt time noted; ready once subscribed."""
        found = SEQUENCE.search(payload)
        if found is not None:
            self.receipts.append((int(found.group(1)), now))
        elif not self.ready.done() and b'"success"' in payload:
            self.ready.set_result(None)

    def connection_lost(self, exc):
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(f"connection lost before subscribing: {exc}"))


async def run_clients(job):
    """Connect the job's clients, say ``ready``; given the writes' commit times on stdin, report what arrived.

    What arrived is summed up here (a latency histogram in 0.1 ms steps and
    counts) so that millions of receipts never cross a pipe.
    """
    loop = asyncio.get_running_loop()
    receipts = []
    rng = random.Random(job["seed"])
    gate = asyncio.Semaphore(job["gate"])  # Twisted listens with a backlog of 50 per server

    async def connect():
        ids = sorted(rng.sample(job["ids"], job["per_client"]))
        subscribe = None
        if job["receiver"] == "kirby":
            subscribe = json.dumps({"action": "subscribe", "starlisting_ids": ids}).encode()
        path = RECEIVERS[job["receiver"]].format(ids=",".join(map(str, ids)), key=job["key"])
        async with gate:
            ready = loop.create_future()
            await loop.create_connection(
                lambda: Client(job["host"], job["port"], path, subscribe, receipts, ready),
                job["host"], job["port"], local_addr=(job["source"], 0),
            )  # fmt: skip
            await asyncio.wait_for(ready, 60)

    await asyncio.gather(*(connect() for _ in range(job["count"])))
    print("ready", flush=True)
    writes = json.loads(await loop.run_in_executor(None, sys.stdin.readline))
    committed = {int(n): at for n, at in writes["committed"].items()}
    steady, burst = set(writes["steady"]), set(writes["burst"])
    # Report once deliveries have stopped for a while (slow receivers may still be catching up).
    deadline = time.time() + QUIET_MAX_SECONDS
    while time.time() < deadline and (not receipts or time.time() - receipts[-1][1] < job["quiet"]):
        await asyncio.sleep(0.2)
    histogram, burst_received, burst_last, last = {}, 0, 0.0, {}
    for sequence, at in receipts:
        if sequence in steady:
            bucket = max(0, round((at - committed[sequence]) * 10_000))
            histogram[bucket] = histogram.get(bucket, 0) + 1
            last[sequence] = max(last.get(sequence, 0), bucket)
        elif sequence in burst:
            burst_received += 1
            burst_last = max(burst_last, at)
    report = {"histogram": histogram, "burst_received": burst_received, "burst_last": burst_last, "last": last}
    print(json.dumps(report), flush=True)


# --- the driver ----------------------------------------------------------------------------


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def raise_file_limit():
    """Every connection is a file descriptor on both ends: allow as many as the hard limit does."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


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


def wait_listening(process, timeout=60):
    """Wait for Daphne's own word that it listens: with SO_REUSEPORT a connection may reach a sibling."""
    deadline = time.monotonic() + timeout
    log = Path(process.log.name)
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited early; see {log}")
        if "Listening on TCP address" in log.read_text():
            return
        time.sleep(0.1)
    raise SystemExit(f"server did not start; see {log}")


def resident_bytes(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def open_files(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def bench_starlistings(count):
    """``count`` active 1m starlistings of the bench exchange, without candles from earlier runs."""
    from django.db import connection, transaction

    from apps.markets.models import Coin, Exchange, Interval, MarketType, QuoteCurrency, Starlisting, TradingPair

    ids = []
    with transaction.atomic():
        exchange, _ = Exchange.objects.get_or_create(name=common.EXCHANGE, defaults={"display_name": "Bench Exchange"})
        quote, _ = QuoteCurrency.objects.get_or_create(symbol=common.QUOTE, defaults={"name": "US Dollar"})
        market_type, _ = MarketType.objects.get_or_create(
            name=common.MARKET_TYPE, defaults={"display_name": "Perpetuals"}
        )
        interval = Interval.objects.get(name=common.INTERVAL)
        for number in range(count):
            coin, _ = Coin.objects.get_or_create(symbol=f"{COIN}{number:03d}")
            pair, _ = TradingPair.objects.get_or_create(
                exchange=exchange, coin=coin, quote=quote, market_type=market_type
            )
            starlisting, _ = Starlisting.objects.get_or_create(trading_pair=pair, interval=interval)
            ids.append(starlisting.id)
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM candles WHERE starlisting_id = ANY(%s)", [ids])
    return ids


class Writer:
    """Ticks through the write path: one candle update per starlisting in one write, its commit time kept."""

    def __init__(self, starlisting_ids):
        self.starlisting_ids = starlisting_ids
        self.sequence = 0
        self.committed = {}

    def update(self):
        from django.db import transaction

        from apps.marketdata.records import CandleRecord
        from apps.marketdata.writer import write_candles

        self.sequence += 1
        n = self.sequence
        price = Decimal(100) + Decimal(n) / 100
        moment = START + timedelta(minutes=n)
        records = [
            CandleRecord(starlisting_id, moment, price, price, price, price, Decimal(1), n, True)
            for starlisting_id in self.starlisting_ids
        ]
        with transaction.atomic():
            transaction.on_commit(lambda: self.committed.__setitem__(n, time.time()))  # runs before the publish
            write_candles(records)
        return n


def percentile(histogram, fraction):
    """The ``fraction`` percentile in ms of a {0.1 ms bucket: count} histogram."""
    total = sum(histogram.values())
    if not total:
        return None
    rank, seen = min(total - 1, int(fraction * total)), 0
    for bucket in sorted(histogram):
        seen += histogram[bucket]
        if seen > rank:
            return bucket / 10
    return None


def measure(receiver, args, processes, port, servers, ids, writer, key):
    """Connect the clients to ``receiver``, run steady then burst, return the figures."""
    client_processes = args.client_processes or max(2, math.ceil(args.clients / CLIENTS_PER_PROCESS))
    counts = [args.clients // client_processes + (index < args.clients % client_processes)
              for index in range(client_processes)]  # fmt: skip
    before = [resident_bytes(server.pid) for server in servers]
    clients = []
    for index, count in enumerate(counts):
        job = {
            "receiver": receiver, "host": "127.0.0.1", "port": port, "source": f"127.0.0.{2 + index}",
            "count": count, "ids": ids, "per_client": args.per_client, "key": key, "seed": index,
            "gate": max(4, 40 * len(servers) // client_processes), "quiet": args.quiet,
        }  # fmt: skip
        clients.append(
            processes.start(
                f"clients-{receiver.replace(' ', '-')}-{index}",
                [sys.executable, __file__, "--clients-job", json.dumps(job)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
            )  # fmt: skip
        )
    for process in clients:
        if process.stdout.readline().strip() != "ready":
            raise SystemExit(f"clients did not connect; see {process.log.name}")
    after = [resident_bytes(server.pid) for server in servers]
    spread = [open_files(server.pid) for server in servers]  # how the kernel spread the connections
    time.sleep(1)
    steady = []
    next_tick = time.monotonic()
    for _ in range(args.steady):
        time.sleep(max(0.0, next_tick - time.monotonic()))
        steady.append(writer.update())
        next_tick += 1.0
    time.sleep(2)
    burst_started = time.time()
    burst = [writer.update() for _ in range(args.burst)]
    burst_written = time.time() - burst_started
    committed = {n: writer.committed[n] for n in steady + burst}
    writes = json.dumps({"committed": committed, "steady": steady, "burst": burst}) + "\n"
    for process in clients:
        process.stdin.write(writes)
        process.stdin.flush()
    histogram, burst_received, burst_last, last = {}, 0, 0.0, {}
    for process in clients:
        line = process.stdout.readline()
        if not line:
            raise SystemExit(f"clients ended without reporting; see {process.log.name}")
        report = json.loads(line)
        for bucket, count in report["histogram"].items():
            histogram[int(bucket)] = histogram.get(int(bucket), 0) + count
        for sequence, bucket in report["last"].items():
            last[int(sequence)] = max(last.get(int(sequence), 0), bucket)
        burst_received += report["burst_received"]
        burst_last = max(burst_last, report["burst_last"])
        processes.stop(process)

    if args.verbose:
        print("  last delivery of each steady tick, ms after its commit:", " ".join(
            f"{last.get(n, 0) / 10:.0f}" for n in steady))  # fmt: skip
    expected = args.clients * args.per_client  # deliveries per tick
    burst_seconds = burst_last - writer.committed[burst[0]] if burst_received else None
    return {
        "p50": percentile(histogram, 0.50),
        "p99": percentile(histogram, 0.99),
        "max": percentile(histogram, 1.0),
        "steady_lost": len(steady) * expected - sum(histogram.values()),
        "burst_commits_per_s": len(burst) / burst_written,
        "burst_rate": burst_received / burst_seconds if burst_seconds else None,
        "burst_lost": len(burst) * expected - burst_received,
        "burst_seconds": burst_seconds,
        "bytes_per_connection": (sum(after) - sum(before)) / args.clients,
        "connections_per_server": spread,
    }


def scenario(args):
    subscribed = "one starlisting" if args.starlistings == 1 else f"{args.per_client} of {args.starlistings} each"
    return f"{args.clients:,} clients ({subscribed}), {args.servers} Daphne"


def report(results, args):
    print(f"\nWebSocket fan-out: {scenario(args)}, keys required")
    print(f"(a) steady: {args.steady} ticks at 1/s, latency commit -> receipt over every (update, client)")
    print(
        f"    {'receiver':<16}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'lost':>8}{'KB/conn':>9}  open files per server"
    )
    for name, r in results.items():
        print(
            f"    {name:<16}{_ms(r['p50'])}{_ms(r['p99'])}{_ms(r['max'])}{r['steady_lost']:>8}"
            f"{r['bytes_per_connection'] / 1024:>9.1f}  {' / '.join(map(str, r['connections_per_server']))}"
        )
    print(f"(b) burst: {args.burst} ticks written back to back")
    print(f"    {'receiver':<16}{'commits/s':>10}{'delivered/s':>13}{'seconds':>9}{'lost':>8}")
    for name, r in results.items():
        rate = f"{r['burst_rate']:>13.0f}" if r["burst_rate"] else f"{'n/a':>13}"
        seconds = f"{r['burst_seconds']:>9.2f}" if r["burst_seconds"] else f"{'n/a':>9}"
        print(f"    {name:<16}{r['burst_commits_per_s']:>10.0f}{rate}{seconds}{r['burst_lost']:>8}")
    kirby = results.get("kirby")
    relays = {name: r for name, r in results.items() if name != "kirby"}
    if kirby is None:
        return
    label = scenario(args)
    fastest = max(relays, key=lambda name: relays[name]["burst_rate"] or 0, default=None)
    relay = relays.get(fastest, {})
    figure(
        "websocket_fanout", f"{label}: steady p99 commit to client", kirby["p99"], "ms",
        baseline=relay.get("p99"), baseline_name=fastest, target=("<", STEADY_P99_TARGET_MS), on="value",
        note=f"lost {kirby['steady_lost']}",
    )  # fmt: skip
    figure(
        "websocket_fanout", f"{label}: steady p50 commit to client", kirby["p50"], "ms",
        baseline=relay.get("p50"), baseline_name=fastest,
    )  # fmt: skip
    figure(
        "websocket_fanout", f"{label}: burst deliveries", kirby["burst_rate"], "msg/s",
        baseline=relay.get("burst_rate"), baseline_name=fastest, target=(">=", BURST_RATIO_TARGET),
        note=f"lost {kirby['burst_lost']}",
    )  # fmt: skip
    figure("websocket_fanout", f"{label}: server memory per connection", kirby["bytes_per_connection"] / 1024, "KB")


def _ms(value):
    return f"{value:>9.1f}" if value is not None else f"{'n/a':>9}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--steady", type=int, default=60, help="steady ticks, one per second")
    parser.add_argument("--burst", type=int, default=200, help="ticks written back to back")
    parser.add_argument("--servers", type=int, default=1, help="Daphne processes sharing one address")
    parser.add_argument("--starlistings", type=int, default=1, help="starlistings updated every tick")
    parser.add_argument("--per-client", type=int, default=1, help="random starlistings each client subscribes to")
    parser.add_argument("--client-processes", type=int, help=f"default: one per {CLIENTS_PER_PROCESS} clients, >= 2")
    parser.add_argument("--quiet", type=float, default=3.0, help="seconds without deliveries that end a receiver")
    parser.add_argument(
        "--receivers", default=",".join(RECEIVERS), help="comma-separated subset of: " + ", ".join(RECEIVERS)
    )
    parser.add_argument("--verbose", action="store_true", help="print when each steady tick's last delivery came")
    parser.add_argument("--profile", metavar="DIR", help="run the servers under cProfile; print where time went")
    parser.add_argument("--clients-job", help=argparse.SUPPRESS)
    args = parser.parse_args()
    raise_file_limit()

    if args.clients_job:  # a clients' process
        asyncio.run(run_clients(json.loads(args.clients_job)))
        return
    if args.per_client > args.starlistings:
        parser.error("--per-client cannot exceed --starlistings")
    receivers = args.receivers.split(",")
    if set(receivers) - set(RECEIVERS):
        parser.error(f"--receivers: one of {', '.join(RECEIVERS)}")

    if args.profile:
        Path(args.profile).mkdir(parents=True, exist_ok=True)
        SERVER_ENV["KIRBY_BENCH_PROFILE"] = str(Path(args.profile).resolve())
    os.environ.update(SERVER_ENV)
    common.setup()
    import redis

    redis.Redis.from_url(BENCH_REDIS_URL).flushdb()
    ids = bench_starlistings(args.starlistings)
    writer = Writer(ids)
    key = common.api_key("bench-websocket", "websocket fan-out bench", unlimited=True)
    logdir = Path(os.environ.get("TMPDIR", "/tmp")) / "kirby-bench-websocket"
    logdir.mkdir(exist_ok=True)
    processes = Processes(logdir)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    try:
        port = free_port()
        servers = [
            processes.start(
                f"daphne-{index}",
                [
                    sys.executable,
                    str(Path(__file__).parent / "daphne_reuseport.py"),
                    "-b",
                    "127.0.0.1",
                    "-p",
                    str(port),
                    "bench.websocket_fanout:application",
                ],
            )  # fmt: skip
            for index in range(args.servers)
        ]
        for server in servers:
            wait_listening(server)
        results = {}
        for receiver in sorted(receivers, key=list(RECEIVERS).index):  # Kirby first: its memory figure is clean
            print(f"measuring {receiver} ...", flush=True)
            results[receiver] = measure(receiver, args, processes, port, servers, ids, writer, key)
        report(results, args)
        print(f"logs: {logdir}")
    finally:
        processes.stop_all()
    if args.profile:
        print_profile(Path(args.profile), servers)


def print_profile(directory, servers):
    """The servers' busiest functions (own time), all receivers of the run together."""
    import pstats

    files = [directory / f"daphne-{server.pid}.prof" for server in servers]
    found = [str(path) for path in files if path.exists()]
    if not found:
        print(f"no profile written in {directory}")
        return
    stats = pstats.Stats(*found)
    print(f"\nservers' profile ({len(found)} process(es)), by own time:")
    stats.sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    main()
