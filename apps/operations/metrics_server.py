"""``/metrics`` for processes that serve no HTTP (Celery workers, beat), on their own port.

One HTTP server thread per process, started by apps.operations.workers when
``KIRBY_METRICS_PORT`` is set. A prefork worker's tasks run in child
processes: with ``PROMETHEUS_MULTIPROC_DIR`` set their values are read from
the shared files, so the parent's server shows the whole worker. A threads
pool (collectors) needs no such directory. Each process needs a port of
its own (docker-compose: one process per container, so all use 9100).
"""

import logging
import os

from prometheus_client import REGISTRY, CollectorRegistry, start_http_server
from prometheus_client.multiprocess import MultiProcessCollector

log = logging.getLogger(__name__)

_started = []


def registry():
    """The registry to expose: every process's values in multiprocess mode, else this process's."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        combined = CollectorRegistry()
        MultiProcessCollector(combined)
        return combined
    return REGISTRY


def serve(port, address="0.0.0.0"):
    if _started:
        return _started[0]
    try:
        server, thread = start_http_server(port, addr=address, registry=registry())
    except OSError as error:  # the port is taken (another process on this host): run on, without /metrics
        log.warning("cannot serve /metrics on port %d: %s", port, error)
        return None
    _started.append(server)
    log.info("serving /metrics on port %d", port)
    return server
