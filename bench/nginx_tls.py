"""The candles endpoint through nginx with TLS against the same gunicorn without nginx, and two
gunicorn instances behind nginx against one, in one run.

    .venv/bin/python bench/nginx_tls.py

Serves Kirby with two gunicorn instances (kirby.gunicorn_conf, sync workers, as
docker-compose's `web`) and two nginx processes rendered from the shipped
template (deploy/nginx/templates) with a certificate from deploy/make-certs.sh:
one with the first instance as its only upstream, one with both. The load
generator (bench/loadgen.py) keeps its connections alive and speaks TLS to
nginx; every request carries a read key in the Authorization header and asks
for a random starlisting's newest 1000 candles (the response cache off: each
request reaches PostgreSQL). Layouts take turns in alternating rounds.

Figures: nginx+TLS / direct throughput (target >= 0.85) and two instances /
one instance through nginx (no target: on a 2-core machine both instances
share the same cores; the ratio shows what a second machine would add only
where there are cores to spare).
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common  # noqa: E402
from bench.candles_api import BIN, LIMIT, LOADGEN, Server, cpu_seconds, free_port, load_candles  # noqa: E402
from bench.figures import figure  # noqa: E402
from tests.deployment.nginx import Nginx, make_certs  # noqa: E402

TLS_TARGET = 0.85


def run_load(port, paths, headers, args, seed, cafile=None, groups=(), label=""):
    job = {
        "host": "127.0.0.1", "port": port, "paths": paths, "concurrency": args.concurrency,
        "warmup": args.warmup, "duration": args.duration, "seed": seed, "headers": headers, "cafile": cafile,
    }  # fmt: skip
    before = [cpu_seconds(group, "-")[0] for group in groups]
    done = subprocess.run([sys.executable, str(LOADGEN)], input=json.dumps(job), capture_output=True, text=True,
                          timeout=args.warmup + args.duration + 120, check=False)  # fmt: skip
    after = [cpu_seconds(group, "-")[0] for group in groups]
    if done.returncode != 0:
        raise SystemExit(f"FAILED: load generator: {done.stderr[-2000:]}")
    result = json.loads(done.stdout)
    if result["errors"] or not result["requests"]:
        raise SystemExit(
            f"FAILED ({label}): {result['errors']} error responses {result['statuses']} of {result['requests']}"
        )
    result["cpu_ms"] = [(a - b) * 1000 / result["completed"] for a, b in zip(after, before)]
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=20)
    parser.add_argument("--candles", type=int, default=20_000, help="candles per starlisting")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--duration", type=float, default=4.0)
    parser.add_argument("--workers", type=int, default=2, help="sync workers per gunicorn instance")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    common.setup()
    from django.conf import settings

    database = settings.DATABASES["default"]["NAME"]
    series = common.ensure_starlistings(args.series)
    load_candles(series, args.candles)
    key = common.api_key("bench", "nginx TLS bench", rate_limit=100_000_000)
    headers = {"Authorization": f"Bearer {key}"}
    paths = [f"{one.candles_path}?limit={LIMIT}" for one in series] * 5
    if hasattr(os, "getloadavg"):
        print(f"load average before measuring: {os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs)")

    env = {"KIRBY_AUTH_REQUIRED": "true", "KIRBY_CACHE_ENABLED": "false", "KIRBY_BEHIND_TLS_PROXY": "true"}
    with tempfile.TemporaryDirectory(prefix="kirby-bench-nginx-") as root:
        root = Path(root)
        servers = []
        for name in ("web-1", "web-2"):
            port = free_port()
            command = [str(BIN / "gunicorn"), "kirby.wsgi:application", "--config", "python:kirby.gunicorn_conf",
                       "-w", str(args.workers), "-b", f"127.0.0.1:{port}"]  # fmt: skip
            server = Server(f"{name} gunicorn", command, port, root, database, env)
            servers.append(server)
        make_certs(root / "certs")
        nginxes = []
        try:
            for server in servers:
                server.__enter__()
            for name, upstreams in (("one", servers[:1]), ("two", servers)):
                (root / name).mkdir()
                nginx = Nginx(root / name, [s.port for s in upstreams], [free_port()], root / "certs")
                nginxes.append(nginx.ready())
            cafile = str(root / "certs" / "ca.crt")
            groups = [s.process.pid for s in servers]
            layouts = {
                "direct": lambda seed: run_load(
                    servers[0].port, paths, headers, args, seed, None, groups[:1], "direct"
                ),
                "nginx_tls": lambda seed: run_load(
                    nginxes[0].https_port, paths, headers, args, seed, cafile, groups[:1], "nginx_tls"
                ),  # fmt: skip
                "nginx_tls_two": lambda seed: run_load(
                    nginxes[1].https_port, paths, headers, args, seed, cafile, groups, "nginx_tls_two"
                ),  # fmt: skip
            }
            results = {name: [] for name in layouts}
            for number in range(args.rounds):
                for name in list(layouts)[:: 1 if number % 2 == 0 else -1]:
                    results[name].append(layouts[name](number))
        finally:
            for nginx in nginxes:
                nginx.stop()
            for server in servers:
                server.stop()

    rps = {name: sum(r["rps"] for r in runs) / len(runs) for name, runs in results.items()}
    print()
    print(f"candles endpoint (?limit={LIMIT}, cache off), {args.concurrency} connections, "
          f"{args.workers} sync workers per gunicorn instance")  # fmt: skip
    for name, label in (("direct", "gunicorn, plain HTTP"), ("nginx_tls", "nginx + TLS -> 1 instance"),
                        ("nginx_tls_two", "nginx + TLS -> 2 instances")):  # fmt: skip
        runs = " / ".join(f"{r['rps']:.0f}" for r in results[name])
        p50 = sorted(r["p50_ms"] for r in results[name])[len(results[name]) // 2]
        print(f"  {label:28} {rps[name]:7.1f} req/s ({runs})  p50 {p50:.1f} ms")
    tls_ratio = rps["nginx_tls"] / rps["direct"]
    verdict = "met" if tls_ratio >= TLS_TARGET else "MISSED"
    print(f"  nginx+TLS / direct: {tls_ratio:.2f} (target >= {TLS_TARGET}: {verdict})")
    print(f"  two instances / one (through nginx): {rps['nginx_tls_two'] / rps['nginx_tls']:.2f}")
    figure("nginx_tls", "candles through nginx+TLS", rps["nginx_tls"], "req/s", baseline=rps["direct"],
           baseline_name="same gunicorn, direct", target=(">=", TLS_TARGET))  # fmt: skip
    figure("nginx_tls", "candles, two instances behind nginx", rps["nginx_tls_two"], "req/s",
           baseline=rps["nginx_tls"], baseline_name="one instance behind nginx",
           note=f"{os.cpu_count()} CPUs shared by both instances")  # fmt: skip


if __name__ == "__main__":
    main()
