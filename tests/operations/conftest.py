"""Status tests start from Redis without any status keys and leave none behind; a real S3 server for backups."""

import re
import socket
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

from apps.operations.status.services import PRIORITY_SUFFIXES, QUEUES
from lib.redis import client as redis_client
from tests.waiting import wait_for

STATUS_KEYS = ("kirby:streams", "kirby:beat", "kirby:errors", "kirby:samples", "kirby:samples:lock",
               "kirby:ws:processes", "kirby:ingested")  # fmt: skip


def clear_status():
    """Status keys, and Celery's queues (tasks other tests queued without a worker to take them)."""
    redis = redis_client()
    redis.delete(*STATUS_KEYS)
    redis.delete(*(queue + suffix for queue in QUEUES for suffix in PRIORITY_SUFFIXES))
    workers = list(redis.scan_iter(match="kirby:workers:*"))
    if workers:
        redis.delete(*workers)


@pytest.fixture(autouse=True)
def clean_status():
    clear_status()
    yield
    clear_status()


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def moto_endpoint(tmp_path_factory):
    """A real S3-compatible server (moto's server mode, over HTTP), one per test module: its endpoint URL.

    It binds port 0 itself and says which port it got ("Running on http://127.0.0.1:PORT")."""
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with open(log, "w") as output:
        server = subprocess.Popen(
            [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", "0"],
            stdout=output, stderr=subprocess.STDOUT,
        )  # fmt: skip

    def listening():
        assert server.poll() is None, log.read_text()
        return re.search(r"Running on (http://127\.0\.0\.1:[0-9]+)", log.read_text())

    endpoint = wait_for(listening, 20, "moto server to listen").group(1)
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test",
                          aws_secret_access_key="test")  # fmt: skip

    def ready():
        try:
            client.list_buckets()
            return True
        except Exception:
            return False

    try:
        wait_for(ready, 20, "moto server did not start")
        yield endpoint
    finally:
        server.terminate()
        server.wait(10)


@pytest.fixture
def s3(moto_endpoint, settings, monkeypatch):
    """A boto3 client of the module's S3 server, with Kirby's backup settings and credentials pointing at it."""
    for name, value in (("AWS_ACCESS_KEY_ID", "test"), ("AWS_SECRET_ACCESS_KEY", "test")):
        monkeypatch.setenv(name, value)
    settings.KIRBY_BACKUP_S3_ENDPOINT_URL = moto_endpoint
    settings.KIRBY_BACKUP_PART_MB = 5
    return boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
