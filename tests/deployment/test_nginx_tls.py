"""Kirby as deployed: a real nginx (the shipped template, TLS from the test CA) in front of two
gunicorn and two Daphne processes.

One deployment serves the whole module (starting it is the expensive part); each test makes its
own committed data and leaves the four servers running as it found them.
"""

import asyncio
import re
import ssl
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import aiohttp
import pytest
import requests
from asgiref.sync import sync_to_async

from tests.conftest import candle, make_key
from tests.deployment.stack import Nginx, daphne, gunicorn, make_certs
from tests.streaming.conftest import minutes, write
from tests.streaming.servers import receive_types

CANDLES = "/candles/hyperliquid/BTC/USD/perps/1m"
# The servers keep key usage in their buffers (tests.settings flushes it hourly): a usage row written while a
# test's teardown empties the database, between its DELETE of the usage table and that of the keys, would
# break the teardown's foreign keys.
SERVER_ENV = {"KIRBY_BEHIND_TLS_PROXY": "true", "KIRBY_CLIENT_IP_HEADER": "X-Real-IP"}


@pytest.fixture(scope="module")
def deployment(tmp_path_factory, django_db_setup):
    root = tmp_path_factory.mktemp("deployment")
    ca = make_certs(root / "certs")
    webs = [gunicorn(root / f"gunicorn-{n}.log", **SERVER_ENV) for n in range(2)]
    streams = [daphne(root / f"daphne-{n}.log", **SERVER_ENV) for n in range(2)]
    (root / "nginx").mkdir()
    nginx = Nginx(root / "nginx", [web.port for web in webs], [ws.port for ws in streams], root / "certs")
    try:
        for server in (*webs, *streams, nginx):
            server.ready()
        yield Deployment(nginx, webs, streams, ca)
    finally:
        for server in (nginx, *webs, *streams):
            server.terminate()  # all at once: each takes a moment to wind down
        for server in (nginx, *webs, *streams):
            server.stop()


class Deployment:
    def __init__(self, nginx, webs, streams, ca):
        self.nginx, self.webs, self.streams, self.ca = nginx, webs, streams, str(ca)
        self.base = f"https://127.0.0.1:{nginx.https_port}"

    def session(self):
        session = requests.Session()
        session.verify = self.ca  # the test CA: a certificate it did not sign fails the request
        session.trust_env = False  # REQUESTS_CA_BUNDLE would otherwise replace it
        return session

    def ssl_context(self):
        return ssl.create_default_context(cafile=self.ca)

    def upstreams_in_access_log(self, since=0):
        """{upstream address: requests} from the lines of nginx's access log after line ``since``."""
        lines = self.nginx.access_log.read_text().splitlines()[since:]
        counts = {}
        for line in lines:
            address = line.rsplit(" ", 1)[-1]
            counts[address] = counts.get(address, 0) + 1
        return counts

    def access_log_lines(self):
        return len(self.nginx.access_log.read_text().splitlines())


@pytest.fixture
def key(world_committed):
    return make_key("deployed", unlimited=True)


@pytest.fixture
def candles(world_committed):
    from apps.marketdata.writer import write_candles

    write_candles([candle(world_committed.btc_1m, minutes(n)) for n in range(3)], publish=False)
    return world_committed


def test_rest_is_served_over_https_with_hsts_and_a_key_from_the_query_string(deployment, candles, key):
    session = deployment.session()
    by_query = session.get(f"{deployment.base}{CANDLES}?api_key={key}&limit=2", timeout=10)
    by_header = session.get(f"{deployment.base}{CANDLES}", headers={"Authorization": f"Bearer {key}"}, timeout=10)
    without = session.get(f"{deployment.base}{CANDLES}", timeout=10)

    assert by_query.status_code == 200, by_query.text
    assert len(by_query.json()["data"]) == 2  # the other parameters still reach Kirby
    assert by_header.status_code == 200 and len(by_header.json()["data"]) == 3
    assert without.status_code == 401
    assert by_query.headers["Strict-Transport-Security"] == "max-age=63072000"
    assert without.headers["Strict-Transport-Security"] == "max-age=63072000"  # on errors too
    untrusting = requests.Session()
    untrusting.trust_env = False
    with pytest.raises(requests.exceptions.SSLError):
        untrusting.get(f"{deployment.base}/livez", timeout=10)  # the system's CAs did not sign it
    # Moved into the Authorization header: no gunicorn access log holds the key either.
    for web in deployment.webs:
        assert key not in web.log_path.read_text()
    assert key not in deployment.nginx.logs()


def test_plain_http_is_redirected_to_https(deployment):
    response = deployment.session().get(
        f"http://127.0.0.1:{deployment.nginx.http_port}{CANDLES}?limit=1", allow_redirects=False, timeout=10
    )

    assert response.status_code == 301
    assert response.headers["Location"] == f"{deployment.base}{CANDLES}?limit=1"


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1_1 is deprecated:DeprecationWarning")
def test_only_tls_1_2_and_later_is_offered(deployment):
    context = deployment.ssl_context()
    context.minimum_version = context.maximum_version = ssl.TLSVersion.TLSv1_1
    context.set_ciphers("ALL:@SECLEVEL=0")
    with pytest.raises(requests.exceptions.SSLError):
        session = deployment.session()
        session.mount("https://", _Adapter(context))
        session.get(f"{deployment.base}/livez", timeout=10)


class _Adapter(requests.adapters.HTTPAdapter):
    def __init__(self, context):
        self._context = context
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        kwargs["ssl_context"] = self._context
        return super().init_poolmanager(*args, **kwargs)


def test_requests_spread_over_both_http_instances_and_none_fails_when_one_dies(deployment, candles, key):
    session_local = threading.local()
    paths = [f"{CANDLES}?limit=1&n={n}" for n in range(1000)]
    first_line = deployment.access_log_lines()
    done = threading.Semaphore(0)

    def get(n):
        session = getattr(session_local, "session", None) or deployment.session()
        session_local.session = session
        # One request in four carries its key in the query string; the others in the header.
        url, headers = f"{deployment.base}{paths[n]}", {"Authorization": f"Bearer {key}"}
        if n % 4 == 0:
            url, headers = f"{url}&api_key={key}", {}
        try:
            response = session.get(url, headers=headers, timeout=30)
            return response.status_code if response.json()["data"] else "empty"
        except requests.exceptions.RequestException as error:  # refused, reset, or an answer cut off
            return type(error).__name__
        finally:
            done.release()

    victim = deployment.webs[0]
    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(get, n) for n in range(1000)]
        for _ in range(300):
            done.acquire(timeout=60)
        before = deployment.upstreams_in_access_log(first_line)
        victim.kill()
        statuses = [future.result() for future in futures]
    try:
        # Every GET is answered whole, by the other instance when its own died before answering: an instance
        # sends an answer in one write (kirby/gunicorn_worker.py), so nginx never holds half of one.
        assert statuses == [200] * 1000, {status: statuses.count(status) for status in set(statuses)}
        served = f"127.0.0.1:{victim.port}"
        survivor = f"127.0.0.1:{deployment.webs[1].port}"
        assert before.get(served, 0) > 50 and before.get(survivor, 0) > 50, before  # both served
        errors = deployment.nginx.error_log.read_text()
        # nginx saw the instance go (refused, or reset or closed before an answer) and sent those GETs on.
        assert re.search(rf"(connect\(\) failed|recv\(\) failed|prematurely closed).*{served}", errors), errors[-3000:]
        assert "while reading upstream" not in errors, errors[-3000:]  # no answer lost after its head
        assert key not in deployment.nginx.logs()
        assert "api_key=***" in deployment.nginx.access_log.read_text()
    finally:
        victim.restart()


def test_stream_over_wss_gives_history_and_live_rows_and_survives_losing_its_daphne(deployment, candles, key):
    asyncio.run(_stream_survives(deployment, candles, key))
    assert key not in deployment.nginx.logs()


async def _stream_survives(deployment, world, key):
    url = f"wss://127.0.0.1:{deployment.nginx.https_port}/ws?api_key={key}"
    context = deployment.ssl_context()
    starlisting = world.btc_1m.id

    async def subscribe(session, history=0):
        socket_ = await session.ws_connect(url, ssl=context, heartbeat=None)
        await socket_.send_json({"action": "subscribe", "starlisting_ids": [starlisting], "history": history})
        assert (await socket_.receive_json(timeout=10))["type"] == "success"
        return socket_

    async with aiohttp.ClientSession() as session:
        clients = [await subscribe(session, history=10) for _ in range(4)]
        for client in clients:
            (history,) = await receive_types(client, "historical", 1)
            assert history["starlisting_id"] == starlisting and history["count"] == len(history["data"]) == 3
        await write("candles", [candle(starlisting, minutes(3), close="106")])
        for client in clients:
            (live,) = await receive_types(client, "candle", 1)
            assert live["starlisting_id"] == starlisting and live["data"]["close"] == "106"

        victim = deployment.streams[0]
        victim.kill()
        # A client still served answers a ping; one whose Daphne died finds its connection closed.
        lost = []
        for client in clients:
            try:
                await client.send_json({"action": "ping"})
                message = await client.receive(timeout=10)
            except ConnectionResetError:
                message = None
            if message is None or message.type != aiohttp.WSMsgType.TEXT:
                lost.append(client)
            await client.close()
        try:
            assert 1 <= len(lost) < len(clients)  # nginx had spread the clients over both Daphnes
            # The clients that lost their server reconnect at once and are served by the other one.
            again = [await subscribe(session) for _ in lost]
            await write("candles", [candle(starlisting, minutes(4), close="107")])
            for client in again:
                (live,) = await receive_types(client, "candle", 1)
                assert live["data"]["close"] == "107"
                await client.close()
        finally:
            await sync_to_async(victim.restart)()


def test_a_keys_rate_limit_holds_across_both_instances_behind_nginx(deployment, world_committed):
    key = make_key("limited", rate_limit=6)
    session = deployment.session()
    headers = {"Authorization": f"Bearer {key}"}

    def get(with_headers=headers):
        return session.get(f"{deployment.base}{CANDLES}?limit=1", headers=with_headers, timeout=10)

    # nginx rests an instance it saw fail (another test kills one) for 10 s: wait until it uses both again.
    # Two rounds in a row on both: an instance restarted by that test is serving steadily, so no request of
    # the run below is answered by a worker still starting (a retried request counts on both instances).
    probe, deadline = {"Authorization": f"Bearer {make_key('probe', unlimited=True)}"}, time.monotonic() + 30
    steady = 0
    while steady < 2 and time.monotonic() < deadline:
        since = deployment.access_log_lines()
        for _ in range(4):
            get(probe)
        steady = steady + 1 if len(deployment.upstreams_in_access_log(since)) == 2 else 0
        time.sleep(0.5)
    first_line = deployment.access_log_lines()

    first = get()
    reset_in = int(first.headers["X-RateLimit-Reset"]) - time.time()
    if reset_in < 5:  # the minute ends before the run would: start in the next one
        time.sleep(max(0.0, reset_in) + 0.5)
        first = get()
    responses = [first, *(get() for _ in range(6))]

    assert [r.status_code for r in responses] == [200] * 6 + [429]
    assert [r.headers["X-RateLimit-Remaining"] for r in responses[:6]] == ["5", "4", "3", "2", "1", "0"]
    served = deployment.upstreams_in_access_log(first_line)
    assert len(served) == 2 and min(served.values()) >= 2, served  # one count, whichever instance answered
