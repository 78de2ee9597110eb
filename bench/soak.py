"""Soak: collection from the simulator at full speed, 200 WebSocket clients and steady REST load, for 30 minutes.

    .venv/bin/python bench/soak.py [--duration 1800] [--clients 200] [--rest-rate 20] [--checkpoint 300]

Every process of a deployment runs as in production (Procfile): Daphne,
a collectors worker, beat, and the exchange simulator as Kirby's exchange,
with a private redis-server of the soak's own (on a free port, so a soak
never shares queues or channel groups with anything else) and a database of
its own (``KIRBY_SOAK_DATABASE_URL``, default the bench database's name +
``_soak``: other benches reshape the bench database's starlistings). A
load process holds ``--clients`` WebSocket clients subscribed to every
starlisting (reconnecting when closed) and sends ``--rest-rate`` REST
requests a second (candles, funding, open interest, /health).

Each process's resident memory (RSS) and open files are read at the start
(once the clients are connected), at ``--checkpoint`` seconds (5 minutes)
and at the end. Target: no process grows more than 10% in RSS between the
checkpoint and the end. Errors are counted and printed: REST answers other
than 200, WebSocket connections lost or refused, error frames, and
processes that exited. The figures: the largest RSS growth of Kirby's
processes (Daphne, the collectors worker, beat) after the checkpoint
(percent) and the errors (target 0).
"""

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common, figures  # noqa: E402

GROWTH_TARGET_PERCENT = 10
# The figure is about Kirby's processes; the simulator (a fake exchange keeping every frame it sent for
# the tests' truth checks) and the load process are the harness, shown but not judged.
KIRBY_PROCESSES = ("daphne", "collectors", "beat")
BIN = Path(sys.executable).parent


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def resident_mb(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def open_files(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


class Deployment:
    """The soak's processes, each in its own session and with its own log; all stopped on exit."""

    def __init__(self, logdir, env):
        self.logdir, self.env = logdir, env
        self.processes = {}

    def start(self, name, command, **options):
        log = open(self.logdir / f"{name}.log", "w")  # noqa: SIM115 (closed with the process)
        process = subprocess.Popen(
            command, env=self.env, cwd=common.REPO, stdout=options.pop("stdout", log), stderr=log,
            start_new_session=True, text=True, **options,
        )  # fmt: skip
        process.log = log
        self.processes[name] = process
        return process

    def sample(self):
        """{name: (RSS in MB, open files)} of every process still running."""
        taken = {}
        for name, process in self.processes.items():
            if process.poll() is None:
                try:
                    taken[name] = (resident_mb(process.pid), open_files(process.pid))
                except FileNotFoundError:
                    pass
        return taken

    def exited(self):
        return {name: process.returncode for name, process in self.processes.items() if process.poll() is not None}

    def stop_all(self):
        for process in reversed(list(self.processes.values())):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(15)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
            process.log.close()


def wait_for(check, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise SystemExit(f"soak: timed out waiting for {what}")


def listening(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


# --- the load process ---------------------------------------------------------------------------


async def run_load(job):
    """WebSocket clients and a steady REST rate until stdin closes; counters as JSON on every stdin line."""
    import aiohttp

    counts = {"ws_connected": 0, "ws_frames": 0, "ws_lost": 0, "ws_refused": 0, "ws_error_frames": 0,
              "rest_ok": 0, "rest_errors": 0, "rest_statuses": {}}  # fmt: skip
    base, headers = f"http://127.0.0.1:{job['port']}", {"Authorization": f"Bearer {job['key']}"}
    stopping = asyncio.Event()
    connected = 0

    async def client(session, number):
        nonlocal connected
        first = True
        while not stopping.is_set():
            try:
                async with session.ws_connect(f"{base}/ws", headers=headers, heartbeat=None) as socket_:
                    await socket_.send_json({"action": "subscribe", "starlisting_ids": job["ids"]})
                    if first:
                        connected += 1
                        counts["ws_connected"] = connected
                        first = False
                    async for message in socket_:
                        if message.type == aiohttp.WSMsgType.TEXT:
                            counts["ws_frames"] += 1
                            if '"type":"error"' in message.data.replace(" ", ""):
                                counts["ws_error_frames"] += 1
                                counts.setdefault("ws_first_error", message.data[:300])
                        elif message.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                            break
                if not stopping.is_set():
                    counts["ws_lost"] += 1
            except (aiohttp.ClientError, OSError, TimeoutError):
                counts["ws_refused"] += 1
            if not stopping.is_set():
                await asyncio.sleep(1 + random.random())

    async def rest(session):
        paths = job["paths"]
        interval = 1 / job["rest_rate"]
        next_at = time.monotonic()
        while not stopping.is_set():
            try:
                async with session.get(base + random.choice(paths), headers=headers) as response:
                    await response.read()
                    if response.status == 200:
                        counts["rest_ok"] += 1
                    else:
                        counts["rest_errors"] += 1
                        key = str(response.status)
                        counts["rest_statuses"][key] = counts["rest_statuses"].get(key, 0) + 1
            except (aiohttp.ClientError, OSError, TimeoutError) as error:
                counts["rest_errors"] += 1
                key = type(error).__name__
                counts["rest_statuses"][key] = counts["rest_statuses"].get(key, 0) + 1
            next_at += interval
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))

    async def control():
        loop = asyncio.get_running_loop()
        while line := await loop.run_in_executor(None, sys.stdin.readline):
            del line
            print(json.dumps(counts), flush=True)
        stopping.set()

    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=None)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        tasks = [asyncio.create_task(client(session, n)) for n in range(job["clients"])]
        tasks.append(asyncio.create_task(rest(session)))
        await control()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


# --- the driver ---------------------------------------------------------------------------------


def soak_database_url():
    parts = urlsplit(common.BENCH_DATABASE_URL)
    return os.environ.get("KIRBY_SOAK_DATABASE_URL") or parts._replace(path=parts.path.rstrip("/") + "_soak").geturl()


def prepare():
    """The soak's database with the configured starlistings; (read key, starlisting ids, REST paths)."""
    common.BENCH_DATABASE_URL = soak_database_url()  # bench_environment() and setup() read it
    common.setup()
    from django.core.management import call_command

    from apps.markets.models import Starlisting

    call_command("sync_starlistings", "--prune", stdout=open(os.devnull, "w"))  # noqa: SIM115
    starlistings = list(Starlisting.objects.filter(active=True).select_related(
        "trading_pair__exchange", "trading_pair__coin", "trading_pair__quote", "trading_pair__market_type",
        "interval",
    ))  # fmt: skip
    paths = ["/health"]
    for starlisting in starlistings:
        pair = starlisting.trading_pair
        where = f"{pair.exchange.name}/{pair.coin.symbol}/{pair.quote.symbol}/{pair.market_type.name}"
        paths.append(f"/candles/{where}/{starlisting.interval.name}?limit=100")
        paths.extend((f"/funding/{where}?limit=100", f"/open-interest/{where}?limit=100"))
    key = common.api_key("bench-soak", "soak bench", unlimited=True)
    return key, [s.id for s in starlistings], sorted(set(paths))


def start_redis(directory):
    port = free_port()
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(directory)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    wait_for(lambda: listening(port), 10, "redis-server")
    return process, f"redis://127.0.0.1:{port}/0"


def report_table(samples):
    names = sorted({name for sample in samples.values() for name in sample})
    print(f"\n{'process':12} " + " ".join(f"{label:>22}" for label in samples))
    for name in names:
        cells = []
        for sample in samples.values():
            rss, files = sample.get(name, (None, None))
            cells.append(f"{rss:9.1f} MB {files:5d} files" if rss is not None else f"{'gone':>22}")
        print(f"{name:12} " + " ".join(cells))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=1800, help="seconds of load (default 30 minutes)")
    parser.add_argument("--checkpoint", type=float, default=300, help="seconds: growth is measured from here")
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--rest-rate", type=float, default=20, help="REST requests a second")
    parser.add_argument("--speed", type=float, default=60, help="simulator: virtual seconds per real second")
    parser.add_argument("--load-job", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load_job:
        asyncio.run(run_load(json.loads(args.load_job)))
        return
    if args.checkpoint >= args.duration:
        parser.error("--checkpoint must come before the end of --duration")

    workdir = Path(tempfile.mkdtemp(prefix="kirby-soak-"))
    redis_process, redis_url = start_redis(workdir)
    os.environ["REDIS_URL"] = redis_url
    deployment = None
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    try:
        key, ids, paths = prepare()
        simulator_port, web_port = free_port(), free_port()
        env = common.bench_environment() | {
            "REDIS_URL": redis_url,
            "PYTHONUNBUFFERED": "1",
            "KIRBY_HYPERLIQUID_WS_URL": f"ws://127.0.0.1:{simulator_port}/ws",
            "KIRBY_HYPERLIQUID_REST_URL": f"http://127.0.0.1:{simulator_port}/info",
            "KIRBY_COLLECTOR_SUPERVISE_SECONDS": "2",
        }
        deployment = Deployment(workdir, env)
        deployment.start("simulator", [sys.executable, "-m", "apps.collectors.simulator", "--port",
                                       str(simulator_port), "--speed", str(args.speed), "--update-interval", "0.02",
                                       "--ctx-interval", "0.2"])  # fmt: skip
        wait_for(lambda: listening(simulator_port), 30, "the simulator")
        deployment.start("daphne", [str(BIN / "daphne"), "-b", "127.0.0.1", "-p", str(web_port),
                                    "--websocket_timeout", "-1", "kirby.asgi:application"])  # fmt: skip
        celery = [sys.executable, "-m", "celery", "-A", "kirby"]
        deployment.start("collectors", [*celery, "worker", "--pool", "threads", "--concurrency", "8", "--queues",
                                        "collectors,default", "-n", "soak@%h", "--loglevel", "INFO"])  # fmt: skip
        deployment.start("beat", [*celery, "beat", "-S", "celery.beat:PersistentScheduler", "-s",
                                  str(workdir / "beat-schedule"), "--pidfile=", "--loglevel", "INFO"])  # fmt: skip
        wait_for(lambda: listening(web_port), 60, "Daphne")
        job = {"port": web_port, "key": key, "ids": ids, "paths": paths, "clients": args.clients,
               "rest_rate": args.rest_rate}  # fmt: skip
        load = deployment.start(
            "load", [sys.executable, __file__, "--load-job", json.dumps(job)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        )  # fmt: skip

        def counters():
            load.stdin.write("\n")
            load.stdin.flush()
            return json.loads(load.stdout.readline())

        wait_for(lambda: counters()["ws_connected"] >= args.clients, 120, "the WebSocket clients to connect")
        started = time.monotonic()
        samples = {"start": deployment.sample()}
        at_start = counters()
        print(f"soak: {args.clients} clients connected, {len(ids)} starlistings, {args.rest_rate:g} REST/s; "
              f"running {args.duration:g} s (logs: {workdir})", flush=True)  # fmt: skip
        checkpoint_label = f"{args.checkpoint:g} s"
        while (elapsed := time.monotonic() - started) < args.duration:
            if checkpoint_label not in samples and elapsed >= args.checkpoint:
                samples[checkpoint_label] = deployment.sample()
                print(f"soak: checkpoint at {elapsed:.0f} s: {counters()}", flush=True)
            if deployment.exited():
                break
            time.sleep(min(5.0, args.duration - elapsed, max(0.1, args.checkpoint - elapsed) or 5.0))
        samples["end"] = deployment.sample()
        at_end = counters()
        exited = {name: code for name, code in deployment.exited().items() if name != "load"}
    finally:
        if deployment:
            deployment.stop_all()
        redis_process.terminate()
        redis_process.wait(10)

    report_table(samples)
    frames = at_end["ws_frames"] - at_start["ws_frames"]
    print(f"\nWebSocket frames received: {frames:,} ({frames / args.duration:,.0f}/s); "
          f"REST answered 200: {at_end['rest_ok']:,}")  # fmt: skip
    errors = {
        "REST answers other than 200": at_end["rest_errors"],
        "WebSocket connections lost": at_end["ws_lost"],
        "WebSocket connections refused": at_end["ws_refused"],
        "WebSocket error frames": at_end["ws_error_frames"],
        "processes that exited": len(exited),
    }
    for what, number in errors.items():
        print(f"  {what}: {number}")
    if at_end.get("ws_first_error"):
        print(f"  first WebSocket error frame: {at_end['ws_first_error']}")
    if at_end["rest_statuses"]:
        print(f"  REST failures by status: {at_end['rest_statuses']}")
    if exited:
        print(f"  exited: {exited} (logs in {workdir})")
    checkpoint = samples.get(checkpoint_label, {})
    growth = {
        name: (samples["end"][name][0] / rss - 1) * 100
        for name, (rss, _) in checkpoint.items()
        if name in samples["end"] and rss
    }
    for name, percent in sorted(growth.items()):
        harness = "" if name in KIRBY_PROCESSES else " (harness, not judged)"
        print(f"  {name}: RSS {percent:+.1f}% from {checkpoint_label} to the end{harness}")
    worst = max((growth[name] for name in KIRBY_PROCESSES if name in growth), default=None)
    figures.figure("soak", "largest RSS growth of Kirby's processes after the checkpoint", worst, "%",
                   target=("<", GROWTH_TARGET_PERCENT), on="value")  # fmt: skip
    figures.figure("soak", "errors", sum(errors.values()), "count", target=("<=", 0), on="value")
    if workdir.exists() and not exited and not sum(errors.values()):
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
