"""gunicorn settings for the web service (``gunicorn -c python:kirby.gunicorn_conf``).

With ``PROMETHEUS_MULTIPROC_DIR`` set, every worker writes its metrics to
files there and ``/metrics`` (served by any worker) adds them all up; the
directory is emptied when gunicorn starts, and a worker that exits is
marked dead so its live gauges (open /ws connections) stop counting.
"""

import os
import shutil

# Sync workers that send each answer's head and body in one write, so an instance
# that dies never leaves nginx a half answer it cannot retry (kirby/gunicorn_worker.py).
worker_class = "kirby.gunicorn_worker.WholeAnswerSyncWorker"


def on_starting(server):
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        shutil.rmtree(directory, ignore_errors=True)
        os.makedirs(directory, exist_ok=True)


def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
