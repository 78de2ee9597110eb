"""What Celery processes tell the status document, and their own /metrics port.

- Each worker writes ``kirby:workers:<node name>`` (JSON, expiring after three
  missed reports) every ``KIRBY_STATUS_WORKER_SECONDS`` from a thread of its
  main process, and removes it at shutdown: no broadcast ``inspect ping``
  is needed to list the workers.
- Beat records the time and task of every dispatch in ``kirby:beat``
  (at most once a second).
- With ``KIRBY_METRICS_PORT`` set, workers and beat serve ``/metrics``
  (apps.operations.metrics_server).

Connected in ``OperationsConfig.ready``; the signals fire only in Celery processes.
"""

import json
import logging
import os
import threading
import time

from celery.signals import after_task_publish, beat_init, worker_init, worker_ready, worker_shutdown
from django.conf import settings

from apps.operations.metrics_server import serve
from lib.redis import client

log = logging.getLogger(__name__)

WORKER_PREFIX = "kirby:workers:"
BEAT_KEY = "kirby:beat"

_worker = {"stop": threading.Event(), "key": None}
_beat = {"active": False, "written": 0.0}


def _serve_metrics():
    if settings.KIRBY_METRICS_PORT:
        serve(settings.KIRBY_METRICS_PORT)


@worker_init.connect
def _on_worker_init(sender=None, **kwargs):
    _serve_metrics()


@worker_ready.connect
def _on_worker_ready(sender=None, **kwargs):
    """``sender`` is the worker's consumer."""
    worker = getattr(sender, "controller", None)
    hostname = getattr(sender, "hostname", None) or f"worker-{os.getpid()}"
    try:
        queues = sorted(q.name for q in sender.app.amqp.queues.consume_from.values())
    except AttributeError:
        queues = []
    pool = getattr(worker, "pool_cls", None)
    document = {
        "name": hostname,
        "pid": os.getpid(),
        "queues": queues,
        "pool": getattr(pool, "__module__", str(pool)).rsplit(".", 1)[-1] if pool else None,
        "concurrency": getattr(worker, "concurrency", None),
        "started_at": time.time(),
    }
    _worker["key"] = WORKER_PREFIX + hostname
    threading.Thread(target=_report_worker, args=(document,), name="kirby-worker-status", daemon=True).start()


def _report_worker(document):
    period = settings.KIRBY_STATUS_WORKER_SECONDS
    while not _worker["stop"].is_set():
        try:
            client().set(_worker["key"], json.dumps({**document, "heartbeat_at": time.time()}), px=int(period * 3000))
        except Exception as error:  # Redis away: the next report may work
            log.warning("cannot report worker status: %s", error)
        _worker["stop"].wait(period)


@worker_shutdown.connect
def _on_worker_shutdown(**kwargs):
    _worker["stop"].set()
    if _worker["key"]:
        try:
            client().delete(_worker["key"])
        except Exception as error:
            log.warning("cannot remove worker status: %s", error)


@beat_init.connect
def _on_beat_init(sender=None, **kwargs):
    _beat["active"] = True
    _serve_metrics()


@after_task_publish.connect
def _on_publish(sender=None, **kwargs):
    if not _beat["active"] or time.time() - _beat["written"] < 1.0:
        return
    _beat["written"] = time.time()
    try:
        client().set(BEAT_KEY, json.dumps({"at": _beat["written"], "task": sender, "pid": os.getpid()}))
    except Exception as error:
        log.warning("cannot record beat's last run: %s", error)


def workers():
    """[worker document], each with ``heartbeat_at``; a worker that stopped reporting has expired."""
    redis = client()
    names = sorted(redis.scan_iter(match=WORKER_PREFIX + "*", count=100))
    return [json.loads(raw) for raw in redis.mget(names) if raw] if names else []


def beat_last_run():
    raw = client().get(BEAT_KEY)
    return json.loads(raw) if raw else None
