"""The README's first commands, in order, on a fresh clone: `make run` (in the background), bootstrap_admin,
create_api_key, then a curl with the key. Each must succeed as typed, without exporting DEBUG or SECRET_KEY.
The two management commands run side by side once make run has migrated, as a user types them in a second
terminal while the servers come up.

Lean on purpose: the clone links the shared .venv instead of installing one (make is told its install
stamp is up to date), and it runs against a database and a Redis database of its own.
"""

import os
import re
import socket
import subprocess
from pathlib import Path

import psycopg
import pytest
from django.conf import settings

from tests.process_tree import stop_tree
from tests.processes import database_url
from tests.waiting import wait_for

REPO = Path(__file__).resolve().parent.parent
KEY = re.compile(r"kb_[A-Za-z0-9]{8}\.[A-Za-z0-9]+")


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _run(args, cwd, env, timeout=120):
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _output(started, timeout=120):
    out, err = started.communicate(timeout=timeout)
    assert started.returncode == 0, f"{' '.join(started.args)} failed:\n{out}\n{err}"
    return out


@pytest.mark.django_db
def test_the_readme_commands_work_in_order_on_a_fresh_clone(tmp_path):
    clone = tmp_path / "kirby"
    _run(["git", "clone", "--quiet", "--no-hardlinks", str(REPO), str(clone)], tmp_path, os.environ.copy())
    _run(["git", "checkout", "--quiet", subprocess.check_output(["git", "rev-parse", "HEAD"], cwd=REPO, text=True)
          .strip()], clone, os.environ.copy())  # fmt: skip
    (clone / ".venv").symlink_to(REPO / ".venv")  # the shared environment: no install

    name = settings.DATABASES["default"]["NAME"] + "_readme"
    admin_url = database_url().rsplit("/", 1)[0] + "/postgres"
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "SECRET_KEY", "KIRBY_ENV_FILE")}
    env.update(
        DATABASE_URL=database_url().rsplit("/", 1)[0] + "/" + name,  # lib.services creates it
        REDIS_URL=settings.REDIS_URL,
        PORT=str(port),
        DJANGO_SETTINGS_MODULE="kirby.settings",
    )
    log = tmp_path / "make-run.log"  # a file, not a pipe: nobody reads a pipe while honcho fills it
    with open(log, "w") as output:
        make = subprocess.Popen(
            ["make", "-o", ".venv/.installed", "run"], cwd=clone, env=env, start_new_session=True,
            stdout=output, stderr=subprocess.STDOUT,
        )  # fmt: skip
    admin = made = None
    try:

        def started():
            assert make.poll() is None, log.read_text()
            return "Kirby is starting" in log.read_text()

        # Migrated: the next README commands can run (a user types them while the servers come up).
        wait_for(started, 180, "make run to migrate")
        written = (clone / ".env").read_text()
        assert re.search(r"^SECRET_KEY=\S{40,}$", written, re.M) and "DEBUG=true" in written
        python = str(clone / ".venv" / "bin" / "python")
        commands = (
            [python, "manage.py", "bootstrap_admin"],
            [python, "manage.py", "create_api_key", "--user", "alice", "--name", "research-bot", "--create-user"],
        )
        admin, made = (
            subprocess.Popen(args, cwd=clone, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for args in commands
        )

        def serving():
            assert make.poll() is None, log.read_text()
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    return True
            except OSError:
                return False

        wait_for(serving, 180, "make run to serve")
        lines = _output(admin).splitlines()
        admin_key = lines[next(i for i, line in enumerate(lines) if "API KEY" in line) + 2]
        read_key = KEY.search(_output(made)).group(0)
        for key, path in ((read_key, "/starlistings"), (admin_key, "/admin/users")):
            answer = _run(["curl", "-s", "-w", "\n%{http_code}", "-H", f"Authorization: Bearer {key}",
                           f"http://127.0.0.1:{port}{path}"], clone, env, timeout=30)  # fmt: skip
            assert answer.endswith("\n200") and answer.startswith(("{", "[")), answer
    finally:
        for command in (admin, made):
            if command is not None and command.poll() is None:
                command.kill()
                command.communicate()
        stop_tree(make)  # honcho's processes too, each in a session of its own
        with psycopg.connect(admin_url, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
