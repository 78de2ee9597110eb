"""Kirby as deployed: nginx (tests/deployment/nginx.py) in front of gunicorn and Daphne processes
that share the test database and Redis, each serving a socket bound by the test (no port race)."""

import sys
from pathlib import Path

from tests.deployment.nginx import ROOT, Nginx, Process, make_certs  # noqa: F401 (the tests' one import)
from tests.streaming.servers import server_environment

GUNICORN = Path(sys.executable).parent / "gunicorn"
DAPHNE = Path(sys.executable).parent / "daphne"


def gunicorn(log_path, workers=2, **env):
    def command(fds):
        return [str(GUNICORN), "kirby.wsgi:application", "--bind", f"fd://{fds[0]}", "--workers", str(workers),
                "--config", "python:kirby.gunicorn_conf", "--access-logfile", "-"], {}  # fmt: skip

    return Process(command, log_path, server_environment(**env))


def daphne(log_path, **env):
    def command(fds):
        return [str(DAPHNE), "--fd", str(fds[0]), "--proxy-headers", "kirby.asgi:application"], {}

    return Process(command, log_path, server_environment(**env))
