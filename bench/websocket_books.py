"""Order books over WebSocket: 1,000 clients following one book, publish to receipt, and slow readers.

    .venv/bin/python bench/websocket_books.py [--clients 1000] [--duration 40] [--slow-every 20] [--pause 28]

A publisher in this process keeps one book as the collector does: Binance
USD-M depth deltas (50 a second, sequence checked) fed to the stream's
BookKeeper, which publishes the book to Redis (``live_books.put_book``) at
most 5 times a second. Kirby's /ws runs in a real Daphne with
``KIRBY_WS_BOOK_HZ=10`` (the book feed polls Redis ten times a second); the
clients (several processes, each from its own loopback address, as in
``websocket_fanout.py``) subscribe to the pair's ``orderbook`` channel with a
read key and note when each book (its ``sequence``) arrives.

(a) Latency from publish (just before the Redis write) to receipt, p50/p99
over every (book, client) of the clients that read at once. Target: p99 <
250 ms; the baseline shown is the feed's poll period, the wait a book may
have before any server looks at it.
(b) Slow readers: every ``--slow-every``-th client has a small receive
buffer and stops reading for ``--pause`` seconds, then reads again (under
Daphne's ping timeout: a client silent for longer is dropped, as in
production; connections lost are counted, target 0). For
every client, each book must be newer than the one before it (no book out
of order); for a slow reader, the books it gets after resuming start with
what the buffers (its socket's and the server's) still held, and then,
once it has caught up, no book may be older than the newest one published
a poll period and a margin before it arrived (``stale``: target 0). The
backlog a slow reader reads after resuming is shown against the books
published while it was paused: the server keeps the newest book in one
slot while a client is behind, so the backlog is bounded by the buffers,
not by the pause.

Runs against the bench database and Redis database (``KIRBY_BENCH_REDIS_URL``);
servers and clients are stopped on exit.
"""

import argparse
import asyncio
import bisect
import json
import math
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common  # noqa: E402
from bench.figures import figure  # noqa: E402
from bench.websocket_fanout import (  # noqa: E402
    BENCH_REDIS_URL,
    SERVER_ENV,
    Client,
    Processes,
    free_port,
    percentile,
    raise_file_limit,
    wait_listening,
)

BOOK_HZ = 10
P99_TARGET_MS = 250
STALE_MARGIN = 0.15  # seconds beyond the poll period a fresh book may take to arrive
DELTAS_PER_SECOND = 50
SLOW_RECEIVE_BUFFER = 4096
CLIENTS_PER_PROCESS = 250
COIN, QUOTE, MARKET_TYPE = "WSBOOK", "USDT", "perps"
SEQUENCE = re.compile(rb'"sequence":(\d+)')


# --- the clients' process -----------------------------------------------------------------


class BookClient(Client):
    """websocket_fanout's client, subscribed to the orderbook channel: (sequence, receipt time) per book."""

    def __init__(self, host, port, path, subscribe, ready):
        super().__init__(host, port, path, subscribe, [], ready)
        self.lost = False

    def text(self, payload, now):
        found = SEQUENCE.search(payload) if b'"orderbook"' in payload else None
        if found is not None:
            self.receipts.append((int(found.group(1)), now))
            if not self.ready.done():
                self.ready.set_result(None)  # subscribed: the current book came

    def connection_lost(self, exc):
        self.lost = True
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(f"connection lost before the first book: {exc}"))


async def run_clients(job):
    """Connect, say ``ready``; on ``go`` pause the slow ones as told; given the publish log, report."""
    loop = asyncio.get_running_loop()
    gate = asyncio.Semaphore(job["gate"])
    subscribe = json.dumps({"action": "subscribe", "starlisting_ids": [job["starlisting_id"]],
                            "channels": ["orderbook"]}).encode()  # fmt: skip
    path = f"/ws?api_key={job['key']}"

    async def connect(slow):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if slow:  # set before connecting: the window the server may fill while this client is not reading
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SLOW_RECEIVE_BUFFER)
        sock.setblocking(False)
        sock.bind((job["source"], 0))
        async with gate:
            await loop.sock_connect(sock, (job["host"], job["port"]))
            ready = loop.create_future()
            _, client = await loop.create_connection(
                lambda: BookClient(job["host"], job["port"], path, subscribe, ready), sock=sock
            )
            await asyncio.wait_for(ready, 60)
        return client

    slow_flags = [(job["first_index"] + i) % job["slow_every"] == 0 if job["slow_every"] else False
                  for i in range(job["count"])]  # fmt: skip
    clients = await asyncio.gather(*(connect(slow) for slow in slow_flags))
    print("ready", flush=True)
    go = json.loads(await loop.run_in_executor(None, sys.stdin.readline))
    slow_clients = [c for c, slow in zip(clients, slow_flags, strict=True) if slow]
    await asyncio.sleep(max(0.0, go["pause_at"] - time.time()))
    for client in slow_clients:
        client.transport.pause_reading()
    paused_at = time.time()
    await asyncio.sleep(max(0.0, go["resume_at"] - time.time()))
    resumed_at = time.time()
    for client in slow_clients:
        client.transport.resume_reading()
    log = json.loads(await loop.run_in_executor(None, sys.stdin.readline))
    await asyncio.sleep(1.0)  # the last books on their way
    times, sequences = log["times"], log["sequences"]
    published = dict(zip(sequences, times, strict=True))
    histogram, out_of_order, stale, backlogs, delivered, behind = {}, 0, 0, [], 0, 0
    tolerance = 1 / job["hz"] + STALE_MARGIN
    for client, slow in zip(clients, slow_flags, strict=True):
        receipts = [r for r in client.receipts if r[0] in published]
        delivered += len(receipts)
        out_of_order += sum(1 for a, b in zip(receipts, receipts[1:], strict=False) if b[0] <= a[0])
        if not slow:
            for sequence, at in receipts:
                if published[sequence] >= go["measure_from"]:
                    bucket = max(0, round((at - published[sequence]) * 10_000))
                    histogram[bucket] = histogram.get(bucket, 0) + 1
            continue
        backlog, caught_up = 0, False
        for sequence, at in receipts:
            if at < resumed_at:
                continue
            # The newest book published early enough that a client reading at once would have it by now.
            newest = bisect.bisect_right(times, at - tolerance) - 1
            is_stale = newest >= 0 and sequence < sequences[newest]
            if not caught_up and is_stale:
                backlog += 1
            elif is_stale:
                stale += 1
            else:
                caught_up = True
        backlogs.append(backlog)
        behind += not caught_up or client.lost
    during_pause = sum(1 for t in times if paused_at <= t < resumed_at)
    lost = sum(client.lost for client in clients)
    report = {"histogram": histogram, "out_of_order": out_of_order, "stale": stale, "backlogs": backlogs,
              "during_pause": during_pause, "delivered": delivered, "behind": behind, "lost": lost}  # fmt: skip
    print(json.dumps(report), flush=True)


# --- the publisher: the collector's book path ------------------------------------------------


class Publisher:
    """A Binance USD-M book fed to the stream's BookKeeper; each Redis write's time noted by the book's sequence."""

    def __init__(self, pair_id, seconds):
        import redis

        from apps.collectors.books import BookKeeper
        from apps.collectors.exchanges import get_adapter
        from apps.collectors.plan import BookRoute
        from bench.ticks import book_events

        self.snapshot, self.events = book_events(int(seconds * DELTAS_PER_SECOND))
        publisher = self
        self.times, self.sequences = [], []

        class TimedRedis(redis.Redis):
            def pipeline(self, *args, **kwargs):  # put_book writes the book and its state in one pipeline
                pipe = super().pipeline(*args, **kwargs)
                execute = pipe.execute

                def timed_execute(*a, **k):
                    publisher.times.append(time.time())
                    publisher.sequences.append(publisher.keeper.states[publisher.coin].book.sequence)
                    return execute(*a, **k)

                pipe.execute = timed_execute
                return pipe

        self.coin = self.snapshot.coin
        self.keeper = BookKeeper(get_adapter("binance"), lambda records: None, TimedRedis.from_url(BENCH_REDIS_URL))
        self.routes = [BookRoute(pair_id, (common.EXCHANGE, COIN, QUOTE, MARKET_TYPE), 20, 3600.0)]
        self.keeper.feed(self.snapshot, self.routes)
        self.next = 0

    def run(self, seconds):
        """Feed deltas at DELTAS_PER_SECOND for ``seconds`` (the keeper publishes at most 5 a second)."""
        started, fed = time.monotonic(), 0
        while time.monotonic() - started < seconds:
            if self.next >= len(self.events):
                raise SystemExit("the publisher ran out of deltas")
            self.keeper.feed(self.events[self.next], self.routes)
            self.next += 1
            fed += 1
            self.keeper.tick()
            time.sleep(max(0.0, started + fed / DELTAS_PER_SECOND - time.monotonic()))
        book = self.keeper.states[self.coin].book
        assert book.in_sync and book.breaks == 0, book.reason


def bench_pair():
    """The bench exchange's WSBOOK pair and its starlisting: (pair id, starlisting id)."""
    from apps.markets.models import Coin, Exchange, Interval, MarketType, QuoteCurrency, Starlisting, TradingPair

    exchange, _ = Exchange.objects.get_or_create(name=common.EXCHANGE, defaults={"display_name": "Bench Exchange"})
    quote, _ = QuoteCurrency.objects.get_or_create(symbol=QUOTE, defaults={"name": "Tether"})
    market_type, _ = MarketType.objects.get_or_create(name=MARKET_TYPE, defaults={"display_name": "Perpetuals"})
    coin, _ = Coin.objects.get_or_create(symbol=COIN)
    pair, _ = TradingPair.objects.get_or_create(exchange=exchange, coin=coin, quote=quote, market_type=market_type)
    starlisting, _ = Starlisting.objects.get_or_create(trading_pair=pair, interval=Interval.objects.get(name="1m"))
    return pair.id, starlisting.id


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--duration", type=float, default=40.0, help="seconds of publishing")
    parser.add_argument("--slow-every", type=int, default=20, help="every n-th client reads slowly (0: none)")
    parser.add_argument("--pause", type=float, default=28.0, help="seconds a slow reader stops reading")
    parser.add_argument("--clients-job", help=argparse.SUPPRESS)
    args = parser.parse_args()
    raise_file_limit()
    if args.clients_job:
        asyncio.run(run_clients(json.loads(args.clients_job)))
        return
    warmup = 1.0
    if args.duration < warmup + args.pause + 2:
        parser.error("--duration must leave 1 s before the pause and 2 s after it")

    env = {**SERVER_ENV, "KIRBY_WS_BOOK_HZ": str(BOOK_HZ)}
    SERVER_ENV.update(env)
    os.environ.update(env)
    common.setup()
    pair_id, starlisting_id = bench_pair()
    key = common.api_key("bench-websocket", "websocket books bench", unlimited=True)
    publisher = Publisher(pair_id, args.duration + 180)  # and the time the clients take to connect
    logdir = Path(os.environ.get("TMPDIR", "/tmp")) / "kirby-bench-websocket-books"
    logdir.mkdir(exist_ok=True)
    processes = Processes(logdir)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    try:
        port = free_port()
        server = processes.start("daphne", [sys.executable, str(Path(__file__).with_name("daphne_reuseport.py")),
                                            "-b", "127.0.0.1", "-p", str(port), "kirby.asgi:application"])  # fmt: skip
        wait_listening(server)
        client_processes = max(2, math.ceil(args.clients / CLIENTS_PER_PROCESS))
        counts = [args.clients // client_processes + (i < args.clients % client_processes)
                  for i in range(client_processes)]  # fmt: skip
        clients, first = [], 0
        for index, count in enumerate(counts):
            job = {"host": "127.0.0.1", "port": port, "source": f"127.0.0.{2 + index}", "count": count,
                   "first_index": first, "slow_every": args.slow_every, "starlisting_id": starlisting_id,
                   "key": key, "gate": max(4, 40 // client_processes), "hz": BOOK_HZ}  # fmt: skip
            first += count
            clients.append(processes.start(f"clients-{index}", [sys.executable, __file__, "--clients-job",
                                                               json.dumps(job)],
                                           stdin=subprocess.PIPE, stdout=subprocess.PIPE))  # fmt: skip
        # The book is there before the clients subscribe: each gets it on subscribing, and says ready then.
        keeping = threading.Event()

        def keep_publishing():
            while not keeping.is_set():
                publisher.run(0.2)

        keeper_thread = threading.Thread(target=keep_publishing, daemon=True)
        keeper_thread.start()
        for process in clients:
            if process.stdout.readline().strip() != "ready":
                raise SystemExit(f"clients did not connect; see {process.log.name}")
        keeping.set()
        keeper_thread.join()
        now = time.time()
        go = {"measure_from": now + 0.5, "pause_at": now + warmup, "resume_at": now + warmup + args.pause}
        for process in clients:
            process.stdin.write(json.dumps(go) + "\n")
            process.stdin.flush()
        publisher.run(args.duration)
        log = json.dumps({"times": publisher.times, "sequences": publisher.sequences}) + "\n"
        for process in clients:
            process.stdin.write(log)
            process.stdin.flush()
        histogram, out_of_order, stale, backlogs, delivered, during_pause, behind, lost = {}, 0, 0, [], 0, 0, 0, 0
        for process in clients:
            line = process.stdout.readline()
            if not line:
                raise SystemExit(f"clients ended without reporting; see {process.log.name}")
            report = json.loads(line)
            for bucket, count in report["histogram"].items():
                histogram[int(bucket)] = histogram.get(int(bucket), 0) + count
            out_of_order += report["out_of_order"]
            stale += report["stale"]
            backlogs += report["backlogs"]
            delivered += report["delivered"]
            behind += report["behind"]
            lost += report["lost"]
            during_pause = max(during_pause, report["during_pause"])
            processes.stop(process)
    finally:
        processes.stop_all()

    published = sum(1 for t in publisher.times if t >= now)
    p50, p99 = percentile(histogram, 0.5), percentile(histogram, 0.99)
    if not published or p99 is None:
        raise SystemExit(f"FAILED: {published} books published to Redis and none timed at a client: nothing measured")
    readers = args.clients - len(backlogs)
    print(f"WebSocket books: {args.clients:,} clients on one book, KIRBY_WS_BOOK_HZ={BOOK_HZ}, {published} books "
          f"published in {args.duration:.0f} s")  # fmt: skip
    print(f"(a) {readers} clients reading at once: publish -> receipt p50 {p50} ms, p99 {p99} ms "
          f"over {sum(histogram.values()):,} deliveries (target p99 < {P99_TARGET_MS} ms)")  # fmt: skip
    print(f"(b) {len(backlogs)} slow readers (paused {args.pause:.0f} s, {during_pause} books published meanwhile): "
          f"backlog after resuming max {max(backlogs, default=0)}, mean "
          f"{sum(backlogs) / len(backlogs) if backlogs else 0:.1f} books; stale books after catching up: {stale};"
          f" books out of order (all clients, {delivered:,} books): {out_of_order}; slow readers that never caught"
          f" up: {behind}; connections lost (all clients): {lost}")  # fmt: skip
    label = f"{args.clients:,} clients on one book at {BOOK_HZ} Hz"
    figure("websocket_books", f"{label}: p99 publish to client", p99, "ms", baseline=1000 / BOOK_HZ,
           baseline_name="the feed's poll period", target=("<", P99_TARGET_MS), on="value")  # fmt: skip
    figure("websocket_books", f"{label}: p50 publish to client", p50, "ms", baseline=1000 / BOOK_HZ,
           baseline_name="the feed's poll period")  # fmt: skip
    figure("websocket_books", f"{label}: stale or out-of-order books", stale + out_of_order, "books",
           baseline=delivered, baseline_name="books delivered", target=("<=", 0), on="value",
           note=f"{len(backlogs)} slow readers paused {args.pause:.0f} s")  # fmt: skip
    figure("websocket_books", f"{label}: slow reader's backlog after resuming", max(backlogs, default=0), "books",
           baseline=during_pause, baseline_name="books published during the pause",
           note="what the socket and server buffers held; books past that waited in the one slot")  # fmt: skip
    figure("websocket_books", f"{label}: connections lost, or slow readers never caught up", lost + behind,
           "clients", baseline=args.clients, baseline_name="clients", target=("<=", 0), on="value")  # fmt: skip


if __name__ == "__main__":
    main()
