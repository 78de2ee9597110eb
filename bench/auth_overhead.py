"""What API keys cost: GET /candles/... with keys on, against the same server with KIRBY_AUTH_REQUIRED=false.

    .venv/bin/python bench/auth_overhead.py

Two gunicorn servers (4 sync workers each, as docker-compose runs the web
service: a worker waiting on Redis or PostgreSQL leaves the CPU to another) on
the bench database of ``bench/candles_api.py`` (10 million candles, loaded
once): one requires keys, one does not. The keyed one gets a read key with
a limit far above the load, so every request is checked, counted against
its limit in Redis and recorded for usage, without ever being refused.
The servers are measured in alternating rounds (A B, B A, ...) at 32
connections, then one client at a time for latency.
Target: keyed throughput >= 0.9 x unauthenticated.
"""

import argparse
import os
import random
import signal
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common  # noqa: E402
from bench.candles_api import BIN, LIMIT, Server, free_port, load, load_candles, percentile  # noqa: E402
from bench.figures import figure  # noqa: E402

TARGET = 0.9


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=100)
    parser.add_argument("--candles", type=int, default=100_000, help="candles per starlisting")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--latency-duration", type=float, default=2.0)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn sync workers per server (docker-compose: 4)")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    common.setup()
    from django.conf import settings

    database = settings.DATABASES["default"]["NAME"]
    series = common.ensure_starlistings(args.series)
    load_candles(series, args.candles)
    key = common.api_key("bench", "auth overhead bench", rate_limit=100_000_000)
    rng = random.Random(7)
    paths = [f"{series[rng.randrange(len(series))].candles_path}?limit={LIMIT}" for _ in range(1000)]
    variants = {
        "keys off": ({"KIRBY_AUTH_REQUIRED": "false"}, {}),
        "keys on": (
            {"KIRBY_AUTH_REQUIRED": "true", "KIRBY_USAGE_FLUSH_SECONDS": "2"},
            {"Authorization": f"Bearer {key}"},
        ),
    }
    results = {name: {"rps": [], "cpu": [], "latencies": []} for name in variants}
    with tempfile.TemporaryDirectory(prefix="kirby-bench-") as logdir:
        servers = {}
        try:
            for name, (env, _) in variants.items():
                port = free_port()
                command = [
                    str(BIN / "gunicorn"),
                    "-w",
                    str(args.workers),
                    "-b",
                    f"127.0.0.1:{port}",
                    "kirby.wsgi:application",
                ]
                servers[name] = Server(f"{name.replace(' ', '-')} gunicorn", command, port, logdir, database, env)
                servers[name].__enter__()  # load() fails on any answer but 200, refusals included
            if hasattr(os, "getloadavg"):
                print(f"load average before measuring: {os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs)")
            for number in range(args.rounds):
                for name in list(variants)[:: 1 if number % 2 == 0 else -1]:
                    run = load(
                        servers[name], paths, args.concurrency, args.warmup, args.duration, number, variants[name][1]
                    )
                    results[name]["rps"].append(run["rps"])
                    if "cpu" in run:
                        results[name]["cpu"].append(run["cpu"][0] + run["cpu"][1])
            for number in range(args.rounds):
                for name in list(variants)[:: 1 if number % 2 == 0 else -1]:
                    run = load(
                        servers[name], paths, 1, args.warmup / 2, args.latency_duration, number, variants[name][1]
                    )
                    results[name]["latencies"].extend(run["latencies_ms"])
        finally:
            for server in servers.values():
                server.stop()

    print()
    print(f"GET /candles/...?limit={LIMIT}, gunicorn {args.workers} sync workers, {args.concurrency} connections")
    print(f"  {'':9} {'req/s (rounds)':>40} {'CPU ms/req':>11} {'p50 ms':>7} {'p99 ms':>7}")
    for name, measured in results.items():
        rps = sum(measured["rps"]) / len(measured["rps"])
        rounds = "(" + " / ".join(f"{value:.0f}" for value in measured["rps"]) + ")"
        cpu = f"{sum(measured['cpu']) / len(measured['cpu']):.2f}" if measured["cpu"] else "n/a"
        p50, p99 = percentile(measured["latencies"], 0.5), percentile(measured["latencies"], 0.99)
        print(f"  {name:9} {rps:8.1f} {rounds:>31} {cpu:>11} {p50:7.2f} {p99:7.2f}")
    on, off = (sum(results[n]["rps"]) / len(results[n]["rps"]) for n in ("keys on", "keys off"))
    verdict = "met" if on / off >= TARGET else "MISSED"
    print(f"  keys on / keys off throughput: {on / off:.2f} (target >= {TARGET}: {verdict})")
    p50_on, p50_off = (percentile(results[n]["latencies"], 0.5) for n in ("keys on", "keys off"))
    print(f"  single-client p50 added by keys: {p50_on - p50_off:+.2f} ms")
    figure(
        "auth_overhead", f"GET /candles with keys, gunicorn {args.workers} workers, {args.concurrency} connections",
        on, "req/s", baseline=off, baseline_name="keys off", target=(">=", TARGET),
    )  # fmt: skip
    figure("auth_overhead", "the same, single-client p50", p50_on, "ms", baseline=p50_off, baseline_name="keys off")


if __name__ == "__main__":
    main()
