"""gunicorn with several workers (docker-compose's web service): /metrics adds up every worker's values."""

import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings

from tests.operations.scrape import scrape, value
from tests.streaming.servers import server_environment
from tests.waiting import wait_for

GUNICORN = Path(sys.executable).parent / "gunicorn"


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_metrics_of_all_gunicorn_workers_are_added_up_whichever_worker_answers(tmp_path):
    # Bound here and handed over (gunicorn's fd://): no other process can take the port in between.
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    metrics_dir = tmp_path / "prometheus"
    log = open(tmp_path / "gunicorn.log", "w")  # noqa: SIM115 (closed below)
    process = subprocess.Popen(
        [str(GUNICORN), "kirby.wsgi:application", "--config", "python:kirby.gunicorn_conf", "--workers", "3",
         "--bind", f"fd://{listener.fileno()}"],
        cwd=settings.BASE_DIR, env=server_environment(PROMETHEUS_MULTIPROC_DIR=str(metrics_dir)),
        stdout=log, stderr=subprocess.STDOUT, pass_fds=(listener.fileno(),),
    )  # fmt: skip
    listener.close()  # gunicorn holds its own copy
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:  # ready when /metrics answers (not /livez: a probe that timed out may still be counted)
            try:
                urllib.request.urlopen(base + "/metrics", timeout=5).read()
                break
            except OSError:
                assert time.monotonic() < deadline and process.poll() is None, (tmp_path / "gunicorn.log").read_text()
                time.sleep(0.2)
        wait_for(lambda: len({path.name.split("_")[-1] for path in metrics_dir.glob("*.db")}) == 3, 30, "3 workers")
        for _ in range(30):
            urllib.request.urlopen(base + "/livez", timeout=30).read()

        counts = [
            value(
                scrape(base + "/metrics"),
                "django_http_requests_total_by_view_transport_method_total",
                view="livez",
                transport="http",
                method="GET",
            )  # fmt: skip
            for _ in range(6)
        ]
    finally:
        process.terminate()
        process.wait(20)
        log.close()

    assert counts == [30.0] * 6  # the same total from whichever worker answered the scrape
