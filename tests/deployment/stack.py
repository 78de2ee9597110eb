"""Kirby as deployed: nginx (tests/deployment/nginx.py) in front of gunicorn and Daphne processes
that share the test database and Redis."""

import sys
from pathlib import Path

from tests.deployment.nginx import Nginx, Process, free_port, make_certs  # noqa: F401 (the tests' one import)
from tests.streaming.servers import server_environment

GUNICORN = Path(sys.executable).parent / "gunicorn"
DAPHNE = Path(sys.executable).parent / "daphne"
ROOT = Path(__file__).resolve().parent.parent.parent


def gunicorn(log_path, workers=2, **env):
    port = free_port()
    argv = [str(GUNICORN), "kirby.wsgi:application", "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
            "--worker-class", "sync", "--access-logfile", "-"]  # fmt: skip
    return Process(argv, port, log_path, server_environment(**env))


def daphne(log_path, **env):
    port = free_port()
    argv = [str(DAPHNE), "-b", "127.0.0.1", "-p", str(port), "--proxy-headers", "kirby.asgi:application"]
    return Process(argv, port, log_path, server_environment(**env))
