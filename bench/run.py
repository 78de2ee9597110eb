"""Run every bench, print one table of their figures, write it as JSON to bench/results/<time>.json.

    .venv/bin/python bench/run.py            # make bench: full scale (about an hour on 2 cores)
    .venv/bin/python bench/run.py --smoke    # make bench-smoke: every bench at a tiny scale, seconds each
    .venv/bin/python bench/run.py --only websocket_1k,websocket_10k

Each bench runs as a child process with its own arguments; its human report
goes to the terminal and its ``BENCH-FIGURE`` lines (``bench/figures.py``)
are collected. A bench has finished when it exits with 0 and printed all the
figures it promises; anything else (an error, a timeout, a missing figure)
fails the run: the exit status is 1 and the failures are listed after the
table. The smoke checks exactly that, not the values, so a bench that no
longer runs is caught by ``make test``.

The smoke uses a database of its own (``KIRBY_BENCH_DATABASE_URL``, default
``kirby_bench_smoke``), so its tiny tables never replace the full-size ones.
"""

import argparse
import os
import platform
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import figures, results  # noqa: E402

BENCH = Path(__file__).resolve().parent
SMOKE_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/kirby_bench_smoke"
SMOKE_TIMEOUT = 240


@dataclass(frozen=True)
class Entry:
    name: str
    script: str
    full: tuple
    smoke: tuple | None  # None: the smoke of another entry runs the same code paths
    figures: int  # how many figures a finished run prints


WEBSOCKET_10K = ("--clients", "10000", "--servers", "2", "--receivers", "kirby,raw relay")
WEBSOCKET_SMOKE = ("--clients", "20", "--steady", "2", "--quiet", "1")
SPREAD = ("--starlistings", "100", "--per-client", "10")
# Four connections: with 32, a request can outlast the half-second window and the run counts none.
HTTP_SMOKE = ("--series", "2", "--candles", "2000", "--rounds", "1", "--warmup", "0.2", "--duration", "0.5",
              "--latency-duration", "0.3", "--concurrency", "4")  # fmt: skip
ENTRIES = (
    Entry("upsert", "upsert.py", (), ("--series", "2", "--candles", "500"), 2),
    Entry("candles_api", "candles_api.py", (), HTTP_SMOKE, 7),
    Entry("auth_overhead", "auth_overhead.py", (), (*HTTP_SMOKE, "--workers", "1"), 2),
    Entry(
        "nginx_tls",
        "nginx_tls.py",
        (),
        (
            "--series",
            "2",
            "--candles",
            "2000",
            "--rounds",
            "1",
            "--warmup",
            "0.3",
            "--duration",
            "1",
            "--concurrency",
            "4",
        ),
        2,
    ),
    Entry("collector_throughput", "collector_throughput.py", (), ("--messages", "200", "--coins", "2"), 10),
    Entry("export", "export.py", (), ("--rows", "5000"), 3),
    Entry(
        "ticks",
        "ticks.py",
        (),
        ("--trades", "5000", "--book-events", "2000", "--book-snapshots", "500", "--venue-book-events", "2000"),
        4,
    ),
    Entry("trades_throughput", "trades_throughput.py", (), ("--trades", "200", "--coins", "2"), 4),
    Entry(
        "websocket_books",
        "websocket_books.py",
        (),
        ("--clients", "20", "--duration", "4", "--pause", "1", "--slow-every", "5"),
        5,
    ),
    Entry("soak", "soak.py", (), ("--duration", "4", "--checkpoint", "2", "--clients", "10", "--rest-rate", "5"), 2),
    Entry("backup_restore", "backup_restore.py", (), ("--rows", "20000", "--day-minutes", "10"), 3),
    Entry("retention_purge", "retention_purge.py", (), ("--minutes", "300", "--seconds", "1"), 2),
    Entry("import_v1", "import_v1.py", (), ("--rows", "4000", "--series", "2", "--again"), 2),
    Entry(
        "websocket_1k",
        "websocket_fanout.py",
        ("--clients", "1000", "--servers", "1"),
        (*WEBSOCKET_SMOKE, "--servers", "1", "--burst", "5"),
        4,
    ),
    # These two smokes would repeat websocket_1k's receivers and websocket_10k_spread's two servers.
    Entry(
        "websocket_1k_spread",
        "websocket_fanout.py",
        (
            "--clients",
            "1000",
            "--servers",
            "2",
            *SPREAD,
            "--steady",
            "20",
            "--burst",
            "2",
            "--receivers",
            "kirby,raw relay",
        ),
        None,
        4,
    ),
    Entry("websocket_10k", "websocket_fanout.py", (*WEBSOCKET_10K, "--steady", "30", "--burst", "10"), None, 4),
    Entry(
        "websocket_10k_spread",
        "websocket_fanout.py",
        # 100,000 deliveries a tick: the bare relay takes minutes per tick, so 5 of them.
        (*WEBSOCKET_10K, *SPREAD, "--steady", "5", "--burst", "1"),
        (*WEBSOCKET_SMOKE, *SPREAD, "--servers", "2", "--burst", "2", "--receivers", "kirby,raw relay"),
        4,
    ),
)


def stop_group(process):
    """End a bench that ran out of time, and the servers it started: SIGTERM lets it stop them first."""
    for sent in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sent)
            process.wait(10)
            return
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            continue


def run_entry(entry, smoke, timeout, env):
    """Run one bench; (figures, problem or None, seconds). Its other output is passed through."""
    command = [sys.executable, str(BENCH / entry.script), *(entry.smoke if smoke else entry.full)]
    print(f"\n=== {entry.name}: {' '.join(command[1:])}", flush=True)
    started = time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env, start_new_session=True)
    expired = threading.Event()

    def expire():
        expired.set()
        stop_group(process)

    timer = threading.Timer(timeout, expire) if timeout else None
    if timer:
        timer.start()
    collected = []
    try:
        for line in process.stdout:
            record = figures.parse(line)
            if record is None:
                sys.stdout.write(line)
                sys.stdout.flush()
            else:
                record["run"] = entry.name
                collected.append(record)
        code = process.wait()
    except BaseException:  # Ctrl-C or SIGTERM: the bench runs in a session of its own, so stop it here
        stop_group(process)
        raise
    finally:
        if timer:
            timer.cancel()
    seconds = time.monotonic() - started
    problem = None
    if code != 0:
        problem = f"exited with {code}" + (f" (stopped after the {timeout} s limit)" if expired.is_set() else "")
    elif len(collected) < entry.figures:
        problem = f"printed {len(collected)} of its {entry.figures} figures"
    elif any(record["value"] is None for record in collected):
        problem = "printed a figure without a value"
    return collected, problem, seconds


def commit():
    try:
        done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=BENCH, capture_output=True, text=True)
        return done.stdout.strip() or None
    except OSError:
        return None


def main(argv=None, entries=ENTRIES):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="every bench at a tiny scale; checks they finish")
    parser.add_argument("--only", help="comma-separated entries: " + ", ".join(e.name for e in entries))
    parser.add_argument("--output", help="results file (default bench/results/<time>.json; smoke: none)")
    parser.add_argument("--timeout", type=float, help=f"seconds per bench (smoke default {SMOKE_TIMEOUT})")
    args = parser.parse_args(argv)

    chosen = entries
    if args.only:
        names = args.only.split(",")
        unknown = set(names) - {entry.name for entry in entries}
        if unknown:
            parser.error(f"--only: unknown bench {', '.join(sorted(unknown))}")
        chosen = [entry for entry in entries if entry.name in names]
    if args.smoke:
        chosen = [entry for entry in chosen if entry.smoke is not None]
    env = dict(os.environ)
    if args.smoke:
        env.setdefault("KIRBY_BENCH_DATABASE_URL", SMOKE_DATABASE_URL)
    timeout = args.timeout or (SMOKE_TIMEOUT if args.smoke else None)

    started = datetime.now(UTC)
    document = {
        "started": started.isoformat(timespec="seconds"),
        "smoke": args.smoke,
        "commit": commit(),
        "machine": {"cpus": os.cpu_count(), "system": platform.platform(), "python": platform.python_version()},
        "runs": {},
        "figures": [],
    }
    failures = {}
    for entry in chosen:
        load_before = os.getloadavg()[0]
        collected, problem, seconds = run_entry(entry, args.smoke, timeout, env)
        document["runs"][entry.name] = {
            "command": [entry.script, *(entry.smoke if args.smoke else entry.full)],
            "seconds": round(seconds, 1),
            "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],  # how busy the machine was
            "finished": problem is None,
            "problem": problem,
        }
        document["figures"].extend(collected)
        if problem:
            failures[entry.name] = problem
    document["finished"] = datetime.now(UTC).isoformat(timespec="seconds")

    print(
        f"\n{'smoke run' if args.smoke else 'bench run'} of {started:%Y-%m-%d %H:%M} UTC, commit {document['commit']}"
    )
    print(results.text_table(document["figures"]))
    output = args.output or (None if args.smoke else results.DIRECTORY / f"{started:%Y-%m-%dT%H%M%SZ}.json")
    if output:
        print(f"written: {results.save(document, output)}")
    for entry in chosen:
        run = document["runs"][entry.name]
        state = "FAILED: " + run["problem"] if run["problem"] else "finished"
        print(f"  {entry.name:22} {run['seconds']:7.1f} s  {state}")
    if failures:
        print(f"{len(failures)} bench(es) did not finish: {', '.join(failures)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the running bench on the way out
    sys.exit(main())
