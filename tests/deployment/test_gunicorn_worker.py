"""gunicorn as deployed (kirby.gunicorn_conf) with workers killed while they answer: an answer arrives whole
or not at all.

What nginx relies on to retry a GET on another instance (test_nginx_tls.py): a worker that dies either sent
nothing of an answer (a reset connection, which nginx retries) or all of it. Half an answer (the head without
its body) reaches the client as a cut response. Asked directly, without nginx, so every cut shows; the
instance's other workers go on answering while its master replaces the dead ones.
"""

import http.client
import os
import signal
import threading
from pathlib import Path

import pytest

from tests.deployment.stack import gunicorn

WORKERS = 4
ANSWERS_BETWEEN_KILLS = 100


@pytest.fixture
def web(tmp_path, django_db_setup):
    server = gunicorn(tmp_path / "gunicorn.log", workers=WORKERS).ready()
    yield server
    server.stop()


def workers(master):
    return [int(pid) for pid in Path(f"/proc/{master}/task/{master}/children").read_text().split()]


def test_workers_killed_while_answering_leave_no_answer_half_sent(web):
    outcomes = {}
    lock = threading.Lock()
    stop = threading.Event()

    def ask():
        while not stop.is_set():
            connection = http.client.HTTPConnection("127.0.0.1", web.port, timeout=30)
            try:
                connection.request("GET", "/livez")
                response = connection.getresponse()
                body = response.read()
                outcome = "whole" if body and len(body) == int(response.headers["Content-Length"]) else "short"
            except http.client.IncompleteRead:
                outcome = "cut"  # a head arrived, its body did not
            except (ConnectionError, http.client.RemoteDisconnected):
                outcome = "nothing"  # what a proxy retries on another instance
            finally:
                connection.close()
            with lock:
                outcomes[outcome] = outcomes.get(outcome, 0) + 1

    victims = workers(web.process.pid)  # the first ones, all serving: not their replacements, still starting
    clients = [threading.Thread(target=ask) for _ in range(8)]
    for client in clients:
        client.start()
    try:
        for victim in victims:
            wanted = outcomes.get("whole", 0) + ANSWERS_BETWEEN_KILLS
            while outcomes.get("whole", 0) < wanted and all(client.is_alive() for client in clients):
                stop.wait(0.01)  # answering steadily: the kill lands among answers in flight
            os.kill(victim, signal.SIGKILL)
    finally:
        stop.set()
        for client in clients:
            client.join(60)

    assert len(victims) == WORKERS
    assert outcomes.get("cut", 0) == outcomes.get("short", 0) == 0, outcomes
    assert outcomes["whole"] >= WORKERS * ANSWERS_BETWEEN_KILLS, outcomes
    # Each kill followed an answer that had just arrived: gunicorn's plain sync worker, which sends the head
    # and then the body, is caught between the two by most of them (3 cuts of 4 kills, measured).
