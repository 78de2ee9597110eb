"""GET /candles/... ?limit=1000 over a 10-million-row candles table, against a floor view.

    .venv/bin/python bench/candles_api.py

Loads 100 starlistings x 100,000 one-minute candles into the bench database
(once: a re-run finds them and skips the load), then serves Kirby twice,
under Daphne (ASGI, as the Procfile runs it) and under gunicorn with two
sync workers (WSGI). In each server it measures Kirby's candles endpoint
and the floor view of ``bench/floor.py`` (the same SQL with plain psycopg,
orjson, no DRF, no name lookup): requests/s at 32 concurrent connections,
CPU per request of the server and of PostgreSQL, and p50/p99 latency of a
single client. Each request asks for a random starlisting; floor and candles
are measured in alternating rounds. Keys are required, as users run Kirby:
every request sends a read key (rate limit far above the load), and the
floor route passes the same access middleware, so both pay for the key and
the ratio is what the candles view adds (``bench/auth_overhead.py`` measures
what the key itself costs). The load generator
(``bench/loadgen.py``) runs in a process of its own.
Targets: candles >= 0.8 x the floor's throughput, single-client p50 < 25 ms.

The cached run (gunicorn as docker-compose runs it: ``kirby.gunicorn_conf``,
sync workers, multiprocess metrics) serves the same random mix with the
response cache on (``KIRBY_CACHE_URL``: ``KIRBY_BENCH_REDIS_URL``, database 13
by default) against the floor view and the ceiling (``bench/floor.py``: the
floor's body prepared once and returned from memory). Targets: cached >= 2 x
the floor's throughput and >= 0.5 x the ceiling's, single-client p50 < 3 ms.
It reports the hit ratio of the run and Redis memory per cached entry. The
other two layouts run with the cache off, so their figures stay what the
view and the database cost.
"""

import argparse
import http.client
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common  # noqa: E402
from bench.figures import figure  # noqa: E402

SERIES = 100
CANDLES_PER_SERIES = 100_000
START = datetime(2024, 1, 1, tzinfo=UTC)  # the bench owns the months from START to RANGE_END
RANGE_END = datetime(2026, 1, 1, tzinfo=UTC)
LIMIT = 1000
CONCURRENCY = 32
THROUGHPUT_TARGET = 0.8
P50_TARGET_MS = 25
CACHED_FLOOR_TARGET = 2.0
CACHED_CEILING_TARGET = 0.5
CACHED_P50_TARGET_MS = 3
BENCH_REDIS_URL = os.environ.get("KIRBY_BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
CACHE_PREFIX = "kirby:cache:"
BIN = Path(sys.executable).parent
LOADGEN = Path(__file__).resolve().parent / "loadgen.py"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

# Candles on a smooth walk per starlisting: prices with 2 decimals, volumes with 4, OHLC-sane.
LOAD_SQL = """
INSERT INTO candles (starlisting_id, time, open, high, low, close, volume, num_trades, closed)
SELECT %(id)s, t, o, greatest(o, c) + w1, least(o, c) - w2, c, v, n, true
FROM (
    SELECT %(start)s::timestamptz + g * interval '1 minute' AS t,
           round((%(base)s + 40 * sin(g / 700.0) + random())::numeric, 2) AS o,
           round((%(base)s + 40 * sin((g + 1) / 700.0) + random())::numeric, 2) AS c,
           round((random() * 5)::numeric, 2) AS w1,
           round((random() * 5)::numeric, 2) AS w2,
           round((random() * 1000)::numeric, 4) AS v,
           (random() * 5000)::bigint AS n
    FROM generate_series(0, %(count)s - 1) AS g
) AS walk
"""


# --- data ------------------------------------------------------------------


def stored_count(series_ids, end=RANGE_END):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM candles WHERE starlisting_id = ANY(%s) AND time >= %s AND time < %s",
            [series_ids, START, end],
        )
        return cursor.fetchone()[0]


def load_candles(series, count):
    """Make sure the bench range holds exactly ``count`` candles per starlisting from START; load them if not."""
    from django.db import connection, transaction

    from apps.marketdata.partitions import (
        ensure_partitions,
        existing_partitions,
        forget_partitions,
        months_between,
        partition_name,
    )

    ids = [s.id for s in series]
    expected = len(ids) * count
    last = START + timedelta(minutes=count - 1)
    if stored_count(ids) == expected and stored_count(ids, last + timedelta(minutes=1)) == expected:
        print(f"candles table already holds the {expected:,} bench rows; load skipped")
        return
    print(f"loading {expected:,} candles ({len(ids)} starlistings x {count:,}) ...", flush=True)
    started = time.perf_counter()
    existing = set(existing_partitions("candles"))
    with connection.cursor() as cursor:  # start from empty bench months
        for month in months_between(START, RANGE_END - timedelta(days=1)):
            if partition_name("candles", month) in existing:
                cursor.execute(f'DROP TABLE "{partition_name("candles", month)}"')
    forget_partitions()
    ensure_partitions("candles", START, last)
    for number, item in enumerate(series, 1):
        with transaction.atomic(), connection.cursor() as cursor:
            base = 1000 + (item.id % 50) * 200
            cursor.execute(LOAD_SQL, {"id": item.id, "start": START, "base": base, "count": count})
        if number % 10 == 0:
            print(f"  {number * count:,} rows, {time.perf_counter() - started:.0f} s", flush=True)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE candles")
    stored = stored_count(ids)
    if stored != expected:
        raise SystemExit(f"FAILED: loaded {stored:,} candles, expected {expected:,}")
    print(f"loaded and vacuumed in {time.perf_counter() - started:.0f} s")


# --- servers ---------------------------------------------------------------


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """A server subprocess in a process group of its own, stopped (group and all) on exit."""

    def __init__(self, name, command, port, logdir, database, env=None):
        self.name, self.command, self.port, self.database = name, command, port, database
        self.env = env or {}
        self.log = Path(logdir) / f"{name.split()[0].lower()}.log"
        self.process = None

    def __enter__(self):
        env = {**common.bench_environment(), **self.env}
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                self.command, cwd=common.REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc):
        self.stop()

    def _wait_ready(self, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"{self.name} exited with {self.process.returncode}:\n{self.log.read_text()[-3000:]}")
            try:
                status, _ = get(self.port, "/livez")
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise SystemExit(f"{self.name} did not answer /livez within {timeout} s:\n{self.log.read_text()[-3000:]}")

    def stop(self):
        if self.process is None or self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        except ProcessLookupError:
            pass


def get(port, path, headers=None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def check_same_rows(port, series, headers):
    """The floor must return what Kirby's endpoint returns, or the comparison means nothing."""
    status, body = get(port, f"{series.candles_path}?limit={LIMIT}", headers)
    floor_status, floor_body = get(port, f"/floor/candles/{series.id}?limit={LIMIT}", headers)
    if status != 200 or floor_status != 200:
        raise SystemExit(f"FAILED: candles answered {status}, floor {floor_status}: {body[:300]!r}")
    kirby, floor = json.loads(body), json.loads(floor_body)
    if kirby["data"] != floor["data"] or len(kirby["data"]) != LIMIT:
        raise SystemExit("FAILED: the floor view and the candles endpoint return different rows")


def cpu_seconds(server_group, database):
    """(server, postgres) CPU seconds used so far: the server's process group; backends of ``database``.

    Linux only (reads /proc); None elsewhere. CPU per request is far less
    sensitive than requests/s to whatever else the machine is doing.
    """
    if not os.path.isdir("/proc"):
        return None
    server = postgres = 0
    marker = f" {database} ".encode()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as stat:
                head, _, tail = stat.read().rpartition(b")")
            fields = tail.split()
            ticks = int(fields[11]) + int(fields[12])  # utime + stime
            if int(fields[2]) == server_group:
                server += ticks
            elif head.endswith(b"(postgres"):
                with open(f"/proc/{entry.name}/cmdline", "rb") as cmdline:
                    if marker in cmdline.read():
                        postgres += ticks
        except (OSError, ValueError, IndexError):
            continue  # the process ended meanwhile
    return server / CLOCK_TICKS, postgres / CLOCK_TICKS


def load(server, paths, concurrency, warmup, duration, seed, headers=None):
    """One load generator run against ``server``, with the CPU the server and PostgreSQL spent on it."""
    job = {
        "host": "127.0.0.1",
        "port": server.port,
        "paths": paths,
        "concurrency": concurrency,
        "warmup": warmup,
        "duration": duration,
        "seed": seed,
        "return_latencies": concurrency == 1,
        "headers": headers or {},
    }
    before = cpu_seconds(server.process.pid, server.database)
    done = subprocess.run(
        [sys.executable, str(LOADGEN)],
        input=json.dumps(job),
        capture_output=True,
        text=True,
        timeout=warmup + duration + 120,
        check=False,
    )
    after = cpu_seconds(server.process.pid, server.database)
    if done.returncode != 0:
        raise SystemExit(f"FAILED: load generator: {done.stderr[-2000:]}")
    result = json.loads(done.stdout)
    if result["errors"] or not result["requests"]:
        raise SystemExit(f"FAILED: {result['errors']} error responses {result['statuses']} of {result['requests']}")
    if before and after:
        result["cpu"] = [(a - b) * 1000 / result["completed"] for a, b in zip(after, before)]  # ms per request
    return result


def measure(server, series, args, headers, names=("floor", "candles")):
    """Throughput and single-client latency of the endpoints, in alternating rounds.

    The endpoints take turns (F C, C F, F C, ...) so that a change in
    background load during the run hits all about equally.
    """
    rng = random.Random(7)
    order = [rng.randrange(len(series)) for _ in range(1000)]  # the same random mix for every endpoint
    paths = {
        "floor": lambda s: f"/floor/candles/{s.id}?limit={LIMIT}",
        "candles": lambda s: f"{s.candles_path}?limit={LIMIT}",
        "ceiling": lambda s: f"/ceiling/candles/{s.id}?limit={LIMIT}",
    }
    endpoints = {name: [paths[name](series[i]) for i in order] for name in names}
    check_same_rows(server.port, series[0], headers)
    results = {name: {"throughput": [], "latencies": []} for name in endpoints}
    for number in range(args.rounds):
        for name in list(endpoints)[:: 1 if number % 2 == 0 else -1]:
            run = load(server, endpoints[name], args.concurrency, args.warmup, args.duration, number, headers)
            results[name]["throughput"].append(run)
    for number in range(args.rounds):
        for name in list(endpoints)[:: 1 if number % 2 == 0 else -1]:
            run = load(server, endpoints[name], 1, args.warmup / 2, args.latency_duration, number, headers)
            results[name]["latencies"].extend(run["latencies_ms"])
            results[name]["kb"] = run["mean_bytes"] / 1024
    return results


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def summarise(results):
    figures = {}
    for name, measured in results.items():
        runs = measured["throughput"]
        cpu = [run["cpu"] for run in runs if "cpu" in run]
        figures[name] = {
            "rps": sum(run["rps"] for run in runs) / len(runs),
            "runs": [run["rps"] for run in runs],
            "server_cpu": sum(c[0] for c in cpu) / len(cpu) if cpu else None,
            "postgres_cpu": sum(c[1] for c in cpu) / len(cpu) if cpu else None,
            "p50": percentile(measured["latencies"], 0.50),
            "p99": percentile(measured["latencies"], 0.99),
            "kb": measured["kb"],
        }
    figures["ratio"] = figures["candles"]["rps"] / figures["floor"]["rps"]
    if "ceiling" in figures:
        figures["ceiling_ratio"] = figures["candles"]["rps"] / figures["ceiling"]["rps"]
    return figures


def report(title, figures, concurrency, cached=False):
    print()
    print(title)
    throughput = f"req/s @{concurrency} (rounds)"
    print(f"  {'endpoint':9} {throughput:>36} {'CPU ms/req':>17} {'p50 ms':>7} {'p99 ms':>7} {'KB/resp':>7}")
    print(f"  {'':9} {'':>36} {'server + pg':>17}")
    for name in (n for n in ("floor", "candles", "ceiling") if n in figures):
        f = figures[name]
        rounds = "(" + " / ".join(f"{value:.0f}" for value in f["runs"]) + ")"
        cpu = f"{f['server_cpu']:.2f} + {f['postgres_cpu']:.2f}" if f["server_cpu"] is not None else "n/a"
        label = "cached" if cached and name == "candles" else name
        print(f"  {label:9} {f['rps']:7.1f} {rounds:>28} {cpu:>17} {f['p50']:7.2f} {f['p99']:7.2f} {f['kb']:7.1f}")
    ratio, p50 = figures["ratio"], figures["candles"]["p50"]
    if cached:
        ceiling = figures["ceiling_ratio"]
        print(f"  cached / floor throughput: {ratio:.2f} (target >= {CACHED_FLOOR_TARGET}: "
              f"{_verdict(ratio >= CACHED_FLOOR_TARGET)})")  # fmt: skip
        print(f"  cached / ceiling throughput: {ceiling:.2f} (target >= {CACHED_CEILING_TARGET}: "
              f"{_verdict(ceiling >= CACHED_CEILING_TARGET)})")  # fmt: skip
        print(f"  cached single-client p50: {p50:.2f} ms (target < {CACHED_P50_TARGET_MS} ms: "
              f"{_verdict(p50 < CACHED_P50_TARGET_MS)})")  # fmt: skip
        return
    met = _verdict(ratio >= THROUGHPUT_TARGET)
    print(f"  candles / floor throughput: {ratio:.2f} (target >= {THROUGHPUT_TARGET}: {met})")
    if figures["floor"]["server_cpu"] is not None:
        floor, candles = (figures[n]["server_cpu"] + figures[n]["postgres_cpu"] for n in ("floor", "candles"))
        print(f"  floor / candles CPU per request (server + pg): {floor / candles:.2f}")
    print(f"  candles single-client p50: {p50:.2f} ms (target < {P50_TARGET_MS} ms: {_verdict(p50 < P50_TARGET_MS)})")


def _verdict(ok):
    return "met" if ok else "MISSED"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=SERIES)
    parser.add_argument("--candles", type=int, default=CANDLES_PER_SERIES, help="candles per starlisting")
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY)
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds per measurement")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds of warm-up before each throughput run")
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per throughput run")
    parser.add_argument("--latency-duration", type=float, default=2.0, help="seconds per single-client run")
    parser.add_argument("--gunicorn-workers", type=int, default=2)
    parser.add_argument("--only", choices=["daphne", "gunicorn", "cached"], help="measure one serving layout")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the finally blocks that stop the servers

    common.setup()
    from django.conf import settings

    database = settings.DATABASES["default"]["NAME"]
    series = common.ensure_starlistings(args.series)
    load_candles(series, args.candles)
    headers = {"Authorization": f"Bearer {common.api_key('bench', 'candles API bench', rate_limit=100_000_000)}"}

    workers = args.gunicorn_workers
    # As docker-compose runs the web service (its config, sync workers); the worker count is the bench's.
    gunicorn = [str(BIN / "gunicorn"), "kirby.wsgi:application", "--config", "python:kirby.gunicorn_conf",
                "--worker-class", "sync", "--timeout", "60", "-w", str(workers), "-b", "127.0.0.1:{port}"]  # fmt: skip
    layouts = {
        "daphne": (
            "Daphne (ASGI, 1 process)",
            [str(BIN / "daphne"), "-b", "127.0.0.1", "-p", "{port}", "kirby.asgi:application"],
        ),
        "gunicorn": (f"gunicorn (WSGI, {workers} sync workers)", gunicorn),
        "cached": (f"gunicorn (WSGI, {workers} sync workers), response cache on", gunicorn),
    }
    if hasattr(os, "getloadavg"):
        print(f"load average before measuring: {os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs)")
    summary = {}
    with tempfile.TemporaryDirectory(prefix="kirby-bench-") as logdir:
        for key, (title, command) in layouts.items():
            if args.only and key != args.only:
                continue
            port = free_port()
            command = [part.format(port=port) for part in command]
            env = {
                "KIRBY_AUTH_REQUIRED": "true",
                "KIRBY_CACHE_ENABLED": str(key == "cached").lower(),
                "KIRBY_CACHE_URL": BENCH_REDIS_URL,
            }
            if key != "daphne":  # as docker-compose runs gunicorn (kirby/gunicorn_conf.py creates it)
                env["PROMETHEUS_MULTIPROC_DIR"] = str(Path(logdir) / f"prometheus-{key}")
            names = ("floor", "candles", "ceiling") if key == "cached" else ("floor", "candles")
            if key == "cached":
                forget_cached_answers()  # the load above wrote with SQL, not through the write path
            with Server(title, command, port, logdir, database, env) as server:
                before = cache_stats()
                summary[key] = summarise(measure(server, series, args, headers, names))
                after = cache_stats()
            heading = f"GET /candles/...?limit={LIMIT}, {args.series} x {args.candles:,} candles stored -- {title}"
            report(heading, summary[key], args.concurrency, cached=key == "cached")
            if key == "cached":
                report_cache(before, after)
    if hasattr(os, "getloadavg"):
        print(f"\nload average after measuring: {os.getloadavg()[0]:.2f}")
    scale = f"{args.series * args.candles:,} rows"
    for key, figures in summary.items():
        candles, floor = figures["candles"], figures["floor"]
        if key == "cached":
            cached_figures(figures, scale, args.concurrency)
            continue
        layout = "gunicorn" if key == "gunicorn" else "Daphne"
        figure(
            "candles_api", f"GET /candles ?limit={LIMIT} over {scale}, {layout}, {args.concurrency} connections",
            candles["rps"], "req/s", baseline=floor["rps"], baseline_name="floor view",
            target=(">=", THROUGHPUT_TARGET),
        )  # fmt: skip
        figure(
            "candles_api", f"the same, single-client p50, {layout}", candles["p50"], "ms",
            baseline=floor["p50"], baseline_name="floor view", target=("<", P50_TARGET_MS), on="value",
        )  # fmt: skip
    if len(summary) > 1:
        print("serving layouts, candles endpoint:")
        for key, figures in summary.items():
            candles = figures["candles"]
            print(
                f"  {key:9} {candles['rps']:7.1f} req/s @{args.concurrency},"
                f" single client p50 {candles['p50']:.2f} ms p99 {candles['p99']:.2f} ms"
            )


def forget_cached_answers():
    client = redis.Redis.from_url(BENCH_REDIS_URL)
    for key in client.scan_iter(match=CACHE_PREFIX + "*", count=1000):
        client.delete(key)


def cache_stats():
    """The response cache's cluster-wide counters (lib/cache.py keeps them in its Redis)."""
    stats = redis.Redis.from_url(BENCH_REDIS_URL).hgetall(CACHE_PREFIX + "stats")
    return {name.decode(): int(value) for name, value in stats.items()}


def report_cache(before, after):
    hits = after.get("hits", 0) - before.get("hits", 0)
    misses = after.get("misses", 0) - before.get("misses", 0)
    client = redis.Redis.from_url(BENCH_REDIS_URL)
    entries = list(client.scan_iter(match=CACHE_PREFIX + "e:*", count=1000))
    sizes = [client.memory_usage(key) or 0 for key in entries]
    per_entry = sum(sizes) / len(sizes) / 1024 if sizes else 0
    ratio = hits / (hits + misses) if hits + misses else 0
    print(f"  hit ratio {ratio:.4f} ({hits} hits, {misses} misses); {len(entries)} entries,"
          f" Redis memory per entry {per_entry:.1f} KB (MEMORY USAGE)")  # fmt: skip


def cached_figures(figures, scale, concurrency):
    candles, floor, ceiling = figures["candles"], figures["floor"], figures["ceiling"]
    figure(
        "candles_api", f"GET /candles ?limit={LIMIT} over {scale}, cached, gunicorn, {concurrency} connections",
        candles["rps"], "req/s", baseline=floor["rps"], baseline_name="floor view",
        target=(">=", CACHED_FLOOR_TARGET),
    )  # fmt: skip
    figure(
        "candles_api", "the same, cached, against the ceiling", candles["rps"], "req/s",
        baseline=ceiling["rps"], baseline_name="prepared bytes", target=(">=", CACHED_CEILING_TARGET),
    )  # fmt: skip
    figure(
        "candles_api", "the same, cached, single-client p50", candles["p50"], "ms",
        baseline=ceiling["p50"], baseline_name="prepared bytes", target=("<", CACHED_P50_TARGET_MS), on="value",
    )  # fmt: skip


if __name__ == "__main__":
    main()
