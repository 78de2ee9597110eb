"""A small HTTP/1.1 load generator: asyncio, raw sockets, keep-alive.

Run it in its own process (``candles_api.py`` does) so it never shares an
interpreter with the server it measures:

    python bench/loadgen.py < job.json > result.json

The job names host, port (HTTPS with ``cafile``: the CA to trust), a list of request paths (each request takes a
random one), optional request headers, the number of concurrent connections, a warm-up and a measured
duration in seconds, and an optional cap on measured requests. Connections
are kept alive while the server allows it and reopened when it answers
``Connection: close`` (gunicorn's sync workers do). Only requests started
and finished inside the measured window count; latency is from writing the
request to reading the last byte of the body, reconnects included.
"""

import asyncio
import json
import random
import ssl
import sys
import time


class BadResponse(Exception):
    pass


async def _read_response(reader):
    """(status, body length, keep-alive) of one response."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
        raise BadResponse(f"bad status line {lines[0]!r}")
    status = int(parts[1])
    headers = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    keep_alive = headers.get("connection", "").lower() != "close" and parts[0] == "HTTP/1.1"
    if "content-length" in headers:
        length = int(headers["content-length"])
        await reader.readexactly(length)
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        length = 0
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            length += size
            if size == 0:
                break
    else:
        body = await reader.read()  # delimited by the end of the connection
        length, keep_alive = len(body), False
    return status, length, keep_alive


async def _worker(job, state, rng):
    host, port, paths = job["host"], job["port"], job["paths"]
    expect = job.get("expect_status", 200)
    extra = "".join(f"{name}: {value}\r\n" for name, value in job.get("headers", {}).items())
    requests = [
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: application/json\r\n{extra}\r\n".encode()
        for path in paths
    ]
    reader = writer = None
    try:
        while True:
            now = time.perf_counter()
            if now >= state["end"] or state["measured"] >= state["cap"]:
                return
            started = now
            if writer is None:
                reader, writer = await asyncio.open_connection(host, port, ssl=state["tls"])
            writer.write(rng.choice(requests))
            try:
                status, length, keep_alive = await _read_response(reader)
            except (asyncio.IncompleteReadError, ConnectionError):
                # The server closed an idle keep-alive connection: not an error, retry on a new one.
                writer.close()
                reader = writer = None
                state["reconnects"] += 1
                continue
            finished = time.perf_counter()
            state["completed"] += 1
            if not keep_alive:
                writer.close()
                reader = writer = None
            if started >= state["start"] and finished <= state["end"]:
                if status != expect:
                    state["errors"] += 1
                    state["statuses"][status] = state["statuses"].get(status, 0) + 1
                else:
                    state["latencies"].append(finished - started)
                    state["bytes"] += length
                state["measured"] += 1
    finally:
        if writer is not None:
            writer.close()


async def run(job):
    rng = random.Random(job.get("seed", 1))
    begin = time.perf_counter()
    state = {
        "start": begin + job["warmup"],
        "end": begin + job["warmup"] + job["duration"],
        "cap": job.get("max_requests") or float("inf"),
        "latencies": [],
        "bytes": 0,
        "errors": 0,
        "statuses": {},
        "measured": 0,
        "completed": 0,  # warm-up included: what the server's CPU time was spent on
        "reconnects": 0,
        "tls": ssl.create_default_context(cafile=job["cafile"]) if job.get("cafile") else None,
    }
    workers = [_worker(job, state, random.Random(rng.random())) for _ in range(job["concurrency"])]
    await asyncio.gather(*workers)
    last = time.perf_counter()
    window = min(last, state["end"]) - state["start"]
    latencies = sorted(state["latencies"])
    count = len(latencies)

    def percentile(fraction):
        return latencies[min(count - 1, int(fraction * count))] * 1000 if count else None

    return {
        "requests": count,
        "errors": state["errors"],
        "statuses": state["statuses"],
        "seconds": window,
        "rps": count / window if window > 0 else 0.0,
        "p50_ms": percentile(0.50),
        "p99_ms": percentile(0.99),
        "mean_ms": sum(latencies) / count * 1000 if count else None,
        "mean_bytes": state["bytes"] / count if count else 0,
        "reconnects": state["reconnects"],
        "completed": state["completed"],
        "latencies_ms": [latency * 1000 for latency in latencies] if job.get("return_latencies") else None,
    }


def main():
    job = json.load(sys.stdin)
    json.dump(asyncio.run(run(job)), sys.stdout)


if __name__ == "__main__":
    main()
