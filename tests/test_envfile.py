"""The local .env that `make run` writes on first use, and that settings (so every manage.py command) read."""

import os
import subprocess
import sys
from pathlib import Path

from lib import envfile

REPO = Path(__file__).resolve().parent.parent


def test_the_local_env_file_is_written_once_and_never_committed(tmp_path):
    target = tmp_path / ".env"
    assert envfile.write_local(target)
    written = envfile.parse(target.read_text())
    assert len(written["SECRET_KEY"]) >= 50 and written["DEBUG"] == "true"
    assert written["DATABASE_URL"].startswith("postgres://") and written["REDIS_URL"].startswith("redis://")
    assert oct(target.stat().st_mode & 0o777) == "0o600"
    target.write_text("SECRET_KEY=mine\n")
    assert not envfile.write_local(target) and target.read_text() == "SECRET_KEY=mine\n"  # never overwritten
    ignored = subprocess.run(["git", "check-ignore", "-q", ".env"], cwd=REPO)
    assert ignored.returncode == 0, ".env must be git-ignored"


def test_manage_py_reads_it_and_the_shells_environment_wins(tmp_path):
    target = tmp_path / ".env"
    envfile.write_local(target)
    with target.open("a") as handle:
        handle.write('# a comment\nexport KIRBY_LOG_LEVEL="WARNING"\nALLOWED_HOSTS=from-the-file\n')
    env = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "SECRET_KEY", "KIRBY_LOG_LEVEL")}
    env.update(KIRBY_ENV_FILE=str(target), ALLOWED_HOSTS="from-the-shell", DJANGO_SETTINGS_MODULE="kirby.settings")
    shown = subprocess.run(
        [sys.executable, "manage.py", "shell", "-v", "0", "-c",
         "from django.conf import settings as s; print(s.DEBUG, s.ALLOWED_HOSTS, s.SECRET_KEY[:4])"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    secret = envfile.parse(target.read_text())["SECRET_KEY"]
    assert shown.stdout.split() == ["True", "['from-the-shell']", secret[:4]]

    target.write_text("not a setting\n")
    broken = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )
    assert broken.returncode != 0 and "line 1: expected NAME=value" in broken.stderr
