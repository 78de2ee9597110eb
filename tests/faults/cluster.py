"""A throwaway PostgreSQL 15 cluster on a free port, for tests that stop and start the database.

PostgreSQL cannot bind port 0 and report it, and a restart must come back on the same port, so the port is
picked in advance; a first start that finds it taken (another pytest-xdist worker got there first) picks
another one.

Made with initdb / pg_ctl (run as the ``postgres`` user when the test runs
as root, which initdb refuses); durability settings are off, since the
cluster lives for one test.
"""

import os
import shutil
import socket
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path

import psycopg

BIN = Path(os.environ.get("KIRBY_PG_BIN", "/usr/lib/postgresql/15/bin"))


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Cluster:
    def __init__(self):
        self.root = Path(tempfile.mkdtemp(prefix="kirby-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self.port = free_port()
        self.started = False
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")

    def _run(self, *args, **options):
        command = [str(BIN / args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        return subprocess.run(command, check=True, capture_output=True, text=True, timeout=60, **options)

    def init(self):
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        return self

    def start(self, attempts=5):
        for attempt in range(attempts):
            options = (
                f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
                " -c full_page_writes=off -c synchronous_commit=off"
            )
            try:
                self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "-t", "30", "start")
                self.started = True
                return
            except subprocess.CalledProcessError:
                taken = self.log.exists() and "Address already in use" in self.log.read_text()
                if self.started or not taken or attempt == attempts - 1:
                    raise
                self.port = free_port()

    def stop(self, mode="fast"):
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "30", "stop")

    def url(self, database="kirby"):
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def load(self, source_url, database="kirby"):
        """A copy of the database at ``source_url`` (schema and rows) as ``database``."""
        with psycopg.connect(self.url("postgres"), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{database}"')
        dump = subprocess.run(
            [str(BIN / "pg_dump"), "--no-owner", "--no-privileges", "-d", source_url],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        subprocess.run(
            [str(BIN / "psql"), "-q", "-v", "ON_ERROR_STOP=1", "-d", self.url(database)],
            input=dump.stdout, check=True, capture_output=True, timeout=60,
        )  # fmt: skip

    def query(self, sql, params=(), database="kirby"):
        with psycopg.connect(self.url(database), connect_timeout=5) as connection:
            return connection.execute(sql, params).fetchall()

    def destroy(self):
        try:
            self.stop(mode="immediate")
        except subprocess.CalledProcessError:
            pass  # already stopped
        shutil.rmtree(self.root, ignore_errors=True)


@contextmanager
def throwaway_cluster():
    cluster = Cluster().init()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.destroy()
