"""Sections of the status document about Kirby's processes and stores.

Each builder returns a dict with ``state`` and ``reason`` (apps.operations.status.judge).
"""

import json

from django.conf import settings

from apps.backfill import reporting as backfill_status
from apps.operations import errorlog, samples, workers
from apps.operations.status.judge import AMBER, GREEN, RED, duration, verdict, when
from apps.streaming import presence
from lib import cache, replicas
from lib.metrics import set_backfill_jobs
from lib.redis import client

# Celery's queues in Redis (kombu): a list per queue, plus one per priority step above 0.
QUEUES = ("default", "collectors", "backfill", "export", "maintenance")
# Queue lengths at each status build, kept for a few growth windows: a backlog is judged by
# whether it keeps growing, not only by its size.
LENGTHS_KEY = "kirby:status:queue-lengths"
PRIORITY_SUFFIXES = ("", "\x06\x163", "\x06\x166", "\x06\x169")
HOUR = 3600
DAY = 86400


def websocket_section(now):
    processes = presence.processes(now)
    total = sum(processes.values())
    return {"connections": total, "processes": len(processes), **verdict(GREEN, f"{total} open")}


def queue_lengths():
    pipe = client().pipeline()
    for queue in QUEUES:
        for suffix in PRIORITY_SUFFIXES:
            pipe.llen(queue + suffix)
    lengths = pipe.execute()
    step = len(PRIORITY_SUFFIXES)
    return {queue: sum(lengths[i * step : (i + 1) * step]) for i, queue in enumerate(QUEUES)}


def queue_growth(now, lengths):
    """{queue: (growth, seconds)} against the oldest reading of the last growth window; records ``lengths``."""
    window = settings.KIRBY_STATUS_QUEUE_GROWTH_SECONDS
    redis = client()
    oldest = redis.zrangebyscore(LENGTHS_KEY, now - window, "+inf", start=0, num=1)
    pipe = redis.pipeline()
    pipe.zadd(LENGTHS_KEY, {json.dumps({"t": now, "lengths": lengths}, separators=(",", ":")): now})
    pipe.zremrangebyscore(LENGTHS_KEY, "-inf", now - 2 * window)
    pipe.execute()
    if not oldest:
        return {queue: (0, 0.0) for queue in lengths}
    past = json.loads(oldest[0])
    seconds = max(0.0, now - past["t"])
    return {queue: (length - past["lengths"].get(queue, 0), seconds) for queue, length in lengths.items()}


def _backlog_verdict(queues, growth):
    """Red: a queue over the backlog threshold that is still growing; amber: over it, or growing fast."""
    limit, fast = settings.KIRBY_STATUS_QUEUE_BACKLOG, settings.KIRBY_STATUS_QUEUE_GROWTH
    red, amber = [], []
    for queue, length in queues.items():
        grew, seconds = growth.get(queue, (0, 0.0))
        growing = grew >= fast
        trend = f", +{grew} in {duration(seconds)}" if growing else ""
        if length > limit and growing:
            red.append(f"{queue} ({length}{trend})")
        elif length > limit or growing:
            amber.append(f"{queue} ({length}{trend})")
    if red:
        return verdict(RED, f"backlog growing: {', '.join(red + amber)}")
    if amber:
        return verdict(AMBER, f"tasks waiting: {', '.join(amber)}")
    return None


def celery_section(now):
    found = workers.workers()
    queues = queue_lengths()
    growth = queue_growth(now, queues)
    consumed = {queue for worker in found for queue in worker.get("queues", ())}
    entries = [
        {**worker, "started_at": when(worker.get("started_at")), "heartbeat_at": when(worker.get("heartbeat_at"))}
        for worker in found
    ]
    backlog = _backlog_verdict(queues, growth)
    if not found:
        judged = verdict(RED, "no Celery worker is running")
    elif "collectors" not in consumed:
        judged = verdict(RED, "no worker consumes the collectors queue")
    elif backlog is not None:
        judged = backlog
    else:
        judged = verdict(GREEN, f"{len(found)} worker(s)")
    growths = {queue: {"tasks": grew, "seconds": round(seconds)} for queue, (grew, seconds) in growth.items()}
    return {"workers": entries, "queues": queues, "queue_growth": growths, **judged}


def beat_section(now):
    last = workers.beat_last_run()
    if last is None:
        return {"last_run_at": None, "last_task": None, **verdict(RED, "beat has not run")}
    age = now - last["at"]
    judged = (
        verdict(RED, f"beat has not run for {duration(age)}")
        if age > settings.KIRBY_STATUS_BEAT_STALE_SECONDS
        else verdict(GREEN, f"last run {duration(age)} ago")
    )
    return {"last_run_at": when(last["at"]), "last_task": last.get("task"), **judged}


def backfill_section(now):
    running = backfill_status.running_jobs()
    counts = backfill_status.job_counts()
    set_backfill_jobs(counts)
    failed = counts.get("failed", 0)
    judged = verdict(AMBER, f"{failed} failed job(s)") if failed else verdict(GREEN, f"{len(running)} running")
    return {"running": running, "jobs": counts, **judged}


def database_section(now, history):
    """Size from the newest sample when it is at most a sampling period old (measuring walks every file)."""
    newest = history[-1] if history else None
    fresh = newest is not None and now - newest["t"] <= settings.KIRBY_STATUS_SAMPLE_SECONDS
    size = newest["db_bytes"] if fresh else samples.database_size()
    day = [sample for sample in history if sample["t"] >= now - DAY]
    growth, window = (size - day[0]["db_bytes"], now - day[0]["t"]) if day else (None, None)
    replica_states = replicas.status()
    skipped = [f"replica {alias} {state['reason']}" for alias, state in replica_states.items() if not state["serving"]]
    judged = (
        verdict(AMBER, f"{size / 2**30:.2f} GiB; " + "; ".join(skipped) + " (its reads go elsewhere)")
        if skipped
        else verdict(GREEN, f"{size / 2**30:.2f} GiB")
    )
    return {
        "size_bytes": size,
        "growth_bytes": growth,
        "growth_window_seconds": None if window is None else round(window),
        # As this web process's background check last found them (lib/replicas.py).
        "replicas": [
            {
                "name": alias,
                "serving": state["serving"],
                "lag_seconds": None if state["lag_seconds"] is None else round(state["lag_seconds"], 3),
                "checked_at": None if state["checked_at"] is None else when(state["checked_at"]),
                "reason": state["reason"],
            }
            for alias, state in replica_states.items()
        ],
        **judged,
    }


def cache_section(now):
    """The response cache, cluster-wide: hits, misses, refreshes, errors, memory against its bound."""
    if not cache.enabled():
        return {"enabled": False, **verdict(GREEN, "off (KIRBY_CACHE_ENABLED=false)")}
    try:
        stats = cache.stats()
    except Exception as error:  # the cache's Redis away: reads still work, from PostgreSQL
        return {"enabled": True, **verdict(AMBER, f"unreachable, reads go to PostgreSQL: {error}")}
    looked_up = stats["hits"] + stats["misses"]
    stats["hit_ratio"] = round(stats["hits"] / looked_up, 4) if looked_up else None
    bound = f"{stats['maxmemory_bytes'] / 2**20:.0f} MiB" if stats["maxmemory_bytes"] else "no maxmemory"
    memory = f"{stats['used_memory_bytes'] / 2**20:.1f} MiB of {bound}"
    hits = "no lookups yet" if looked_up == 0 else f"{stats['hit_ratio']:.1%} hits"
    return {**stats, **verdict(GREEN, f"{hits}; {memory}")}


def errors_section(now):
    entries = errorlog.recent_errors()
    recent = [entry for entry in entries if now - entry["at"] < HOUR]
    for entry in entries:
        entry["at"] = when(entry["at"])
    judged = verdict(AMBER, f"{len(recent)} error(s) in the last hour") if recent else verdict(GREEN, "none lately")
    return {"recent": entries, **judged}


def history_section(history, now):
    hour = [sample for sample in history if sample["t"] >= now - HOUR]
    return {
        "ingest_rate": samples.rates(hour, "ingested"),
        "ws_connections": samples.values(hour, "ws_connections"),
    }
