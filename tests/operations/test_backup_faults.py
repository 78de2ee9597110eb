"""Backups and restores that go wrong: an unreachable target, a full disk, a corrupt piece, a database in use.

Each fault gives one clear line, marks the run failed (never restorable), leaves the earlier backups as
they were and sets what the alert reads. The backups here read only committed data, so most tests run
inside a rolled-back transaction: pg_dump sees the migrations' seed data, which is enough to prove them.
"""

import hashlib
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
from io import StringIO

import pytest
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command
from django.db import connection

from apps.marketdata.writer import write_candles
from apps.operations.backups.catalog import refresh_backup_age
from apps.operations.backups.dump import manifest_name, take_backup
from apps.operations.backups.postgres import BackupError, connect
from apps.operations.backups.restore import from_target, on_target, restore
from apps.operations.backups.targets import LocalTarget, S3Target
from apps.operations.models import Backup
from apps.operations.status.keeping import backups_section
from lib.metrics import BACKUP_FAILED
from tests.conftest import candle, utc
from tests.operations.conftest import free_port
from tests.processes import database_url


def _files(root):
    """{relative path: sha256} of everything under a local target."""
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def _objects(s3, bucket):
    return {item["Key"]: item["ETag"] for item in s3.list_objects_v2(Bucket=bucket).get("Contents", [])}


def _database_exists(name):
    with connect("postgres") as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is not None


def _drop(*names):
    with connect("postgres", autocommit=True) as conn:
        for name in names:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')


def _assert_failed_and_alerting(failed, good):
    assert failed.status == Backup.FAILED and "\n" not in failed.error
    assert Backup.objects.get(id=good.id).status == Backup.DONE
    refresh_backup_age(time.time())
    assert BACKUP_FAILED._value.get() == 1  # kirby_backup_last_run_failed: the alert's input
    section = backups_section(time.time())
    assert section["state"] == "amber" and section["last_failed"]["id"] == failed.id


def test_an_unreachable_s3_target_fails_the_run_and_leaves_the_earlier_backups(db, s3, settings, monkeypatch):
    s3.create_bucket(Bucket="kirby-faults")
    good_target = S3Target("s3://kirby-faults/nightly")
    good = take_backup("default", good_target)
    assert good.status == Backup.DONE, good.error
    stored = _objects(s3, "kirby-faults")

    missing = take_backup("default", S3Target("s3://kirby-no-such-bucket/nightly"))
    assert missing.error.startswith("cannot reach s3://kirby-no-such-bucket: ") and "NoSuchBucket" in missing.error
    _assert_failed_and_alerting(missing, good)

    settings.KIRBY_BACKUP_S3_ENDPOINT_URL = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    down = take_backup("default", S3Target("s3://kirby-faults/nightly"))
    assert down.error.startswith("cannot reach s3://kirby-faults: Could not connect to the endpoint URL")
    _assert_failed_and_alerting(down, good)

    settings.KIRBY_BACKUP_S3_ENDPOINT_URL = s3.meta.endpoint_url
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    settings.KIRBY_BACKUP_TARGET = "s3://kirby-faults/nightly"
    with pytest.raises(CommandError, match=r"^backup \S+ failed: cannot reach s3://kirby-faults: .*credentials"):
        call_command("backup", "--database", "production")
    _assert_failed_and_alerting(Backup.objects.order_by("-created_at").first(), good)

    assert _objects(s3, "kirby-faults") == stored  # the good backup's pieces and manifest, as they were
    assert on_target(good_target) == [good.id]  # a failed run wrote no manifest: nothing to offer for a restore
    for failed in (missing, down):
        with pytest.raises(BackupError, match=f"no restorable backup '{failed.id}'"):
            from_target(failed.id, good_target)
        with pytest.raises(BackupError, match="is failed, not restorable"):
            restore(failed, "never_restored")


def _limited(limit):
    """Files this process writes stop at ``limit`` bytes with EFBIG (as on a full disk: write() fails)."""

    def apply():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # ignored, inherited across exec: an error, not a kill

    return apply


def test_a_full_disk_fails_the_run_and_keeps_the_earlier_backup(
    transactional_db, django_db_serialized_rollback, tmp_path
):
    target = LocalTarget(tmp_path / "backups")
    good = take_backup("default", target)
    assert good.status == Backup.DONE, good.error
    before = _files(tmp_path / "backups")
    largest = max(piece["size"] for piece in good.manifest["pieces"])

    result = subprocess.run(
        [sys.executable, "manage.py", "backup", "--database", "production"],
        cwd=django_settings.BASE_DIR, capture_output=True, text=True, timeout=120, preexec_fn=_limited(largest // 2),
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "DATABASE_URL": database_url(),
             "KIRBY_TEST_BACKUP_TARGET": str(tmp_path / "backups"), "KIRBY_BACKUP_DATABASES": "default"},
    )  # fmt: skip

    assert result.returncode != 0
    failed = Backup.objects.exclude(id=good.id).get()
    assert result.stderr.strip().splitlines()[-1] == f"CommandError: backup {failed.id} failed: {failed.error}"
    assert failed.error.startswith(f"cannot write {tmp_path / 'backups'}/pieces/default/")
    assert failed.error.endswith(": File too large")
    _assert_failed_and_alerting(failed, good)
    assert _files(tmp_path / "backups") == before  # no partial piece, nothing of the failed run, the good one intact


@pytest.fixture
def local_backup(db, tmp_path):
    target = LocalTarget(tmp_path / "backups")
    backup = take_backup("default", target)
    assert backup.status == Backup.DONE, backup.error
    dbname = connection.settings_dict["NAME"]
    names = [f"{dbname}_{suffix}" for suffix in ("restored", "restored_restoring", "inuse", "inuse_restoring")]
    yield target, backup, names
    _drop(*names)


def test_a_corrupt_piece_is_refused_before_anything_is_restored(local_backup):
    target, backup, (restored, staging, *_) = local_backup
    path = target.path_of(backup.manifest["pieces"][0]["name"])
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # the same size, one byte changed
    path.write_bytes(bytes(data))

    with pytest.raises(BackupError, match=r"^piece pieces/default/base/\S+ is corrupt or truncated: "):
        restore(backup, restored, target=target)
    assert not _database_exists(restored) and not _database_exists(staging)


def test_a_restore_that_does_not_match_its_manifest_leaves_no_database_claiming_success(local_backup):
    target, backup, (restored, staging, *_) = local_backup
    with connect("postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{restored}"')
    with connect(restored, autocommit=True) as conn:
        conn.execute("CREATE TABLE precious (note text)")
        conn.execute("INSERT INTO precious VALUES ('kept')")
    # The pieces are sound but the manifest (read from the target, as on a machine that lost its list)
    # promises a row the restored table does not hold.
    manifest = json.loads(target.path_of(manifest_name(backup.id)).read_bytes())
    manifest["pieces"][0]["tables"]["intervals"]["rows"] += 1
    target.path_of(manifest_name(backup.id)).write_text(json.dumps(manifest))

    with pytest.raises(BackupError, match=r"^table intervals restored with \d+ rows .* the manifest says"):
        restore(from_target(backup.id, target), restored, force=True, target=target)

    assert not _database_exists(staging)
    with connect(restored) as conn:  # the database --force would have replaced is still the old one
        assert conn.execute("SELECT note FROM precious").fetchall() == [("kept",)]


def test_a_database_in_use_is_never_replaced_even_with_force(local_backup):
    target, backup, (*_, in_use, staging) = local_backup
    with connect("postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{in_use}"')
    with connect(in_use, autocommit=True) as session:
        session.execute("CREATE TABLE precious (note text)")
        for force in (False, True):
            with pytest.raises(BackupError, match=rf"^database {in_use} is in use by 1 other session\(s\); stop"):
                restore(backup, in_use, force=force, target=target)
        assert session.execute("SELECT count(*) FROM precious").fetchone() == (0,)
    assert not _database_exists(staging)


def test_a_fresh_machine_restores_a_backup_it_finds_on_the_s3_target(world_committed, s3, settings):
    s3.create_bucket(Bucket="kirby-fresh")
    settings.KIRBY_BACKUP_TARGET = "s3://kirby-fresh/site"
    write_candles([candle(world_committed.btc_1m, utc(2024, 5, 1, 0, minute)) for minute in range(30)])
    call_command("backup", "--database", "production")
    backup_id = Backup.objects.get().id
    dbname = connection.settings_dict["NAME"]
    restored = f"{dbname}_fresh"
    listed = StringIO()
    call_command("restore", "--list", stdout=listed)  # reads only the target
    assert listed.getvalue().split() == [backup_id]
    # The new machine's DATABASE_URL names a database that does not exist yet: only the target knows the backup.
    fresh = {
        **os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": database_url().replace(dbname, restored),
        "KIRBY_TEST_BACKUP_TARGET": settings.KIRBY_BACKUP_TARGET, "KIRBY_BACKUP_S3_ENDPOINT_URL": s3.meta.endpoint_url,
    }  # fmt: skip
    try:
        done = subprocess.run(
            [sys.executable, "manage.py", "restore", "--backup", backup_id, "--database", restored],
            cwd=django_settings.BASE_DIR, env=fresh, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == f"restored {backup_id} into {restored}: every table matches the manifest"
        for table in ("candles", "trading_pairs", "starlistings", "intervals"):
            with connect(dbname) as live, connect(restored) as copy:
                query = f"SELECT * FROM {table} ORDER BY 1, 2"
                assert copy.execute(query).fetchall() == live.execute(query).fetchall(), table
        with pytest.raises(CommandError, match="^no restorable backup 'no-such-backup': cannot read s3://"):
            call_command("restore", "--backup", "no-such-backup", "--database", f"{dbname}_never")
    finally:
        _drop(restored, f"{dbname}_never")


def test_a_failed_production_backup_is_not_hidden_by_a_good_training_backup_after_it(db):
    def run(database, status, minute):
        return Backup.objects.create(
            id=f"{database}-{minute}", database=database, target="/backups", status=status,
            created_at=utc(2026, 12, 1, 2, minute), error="cannot write /backups: No space left on device",
        )  # fmt: skip

    run("default", Backup.DONE, 0)
    failed = run("default", Backup.FAILED, 1)
    run("training", Backup.DONE, 2)  # the same nightly run, a smaller database: it fitted
    run("training", Backup.RUNNING, 3)

    refresh_backup_age(time.time())
    assert BACKUP_FAILED._value.get() == 1
    assert backups_section(time.time())["last_failed"]["id"] == failed.id

    run("default", Backup.DONE, 4)  # the next good run clears it
    refresh_backup_age(time.time())
    assert BACKUP_FAILED._value.get() == 0 and backups_section(time.time())["last_failed"] is None


def test_an_upload_cut_short_by_its_producer_leaves_no_object_and_says_why(s3):
    s3.create_bucket(Bucket="kirby-cut")
    target = S3Target("s3://kirby-cut/nightly")

    def dump():
        yield b"x" * (6 << 20)  # a first 5 MB part is uploaded
        raise BackupError("pg_dump: error: connection to server was lost")

    with pytest.raises(BackupError, match="^pg_dump: error: connection to server was lost$"):
        target.put("pieces/default/base/cut.dump", dump())
    assert _objects(s3, "kirby-cut") == {}  # the multipart upload was aborted, never completed
    assert s3.list_multipart_uploads(Bucket="kirby-cut").get("Uploads", []) == []


class CuttingProxy:
    """A TCP relay to the S3 server that goes away for good (connections dropped, port closed) once
    ``limit`` bytes went upstream: an object store vanishing in the middle of an upload."""

    def __init__(self, upstream_port, limit):
        self.upstream, self.limit, self.sent = upstream_port, limit, 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sockets, self.lock, self.cut_done = [self.listener], threading.Lock(), False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.upstream))
            with self.lock:
                self.sockets += [client, server]
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, source, sink, upstream):
        try:
            while data := source.recv(65536):
                sink.sendall(data)
                if upstream:
                    with self.lock:
                        self.sent += len(data)
                    if self.sent >= self.limit:
                        self.cut()
        except OSError:
            pass

    def cut(self):
        with self.lock:
            self.cut_done, sockets = True, list(self.sockets)
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()


def test_an_object_store_vanishing_mid_upload_fails_the_run_and_stores_nothing(db, s3, settings):
    s3.create_bucket(Bucket="kirby-vanishing")
    proxy = CuttingProxy(int(s3.meta.endpoint_url.rsplit(":", 1)[1]), limit=20_000)
    settings.KIRBY_BACKUP_S3_ENDPOINT_URL = f"http://127.0.0.1:{proxy.port}"

    backup = take_backup("default", S3Target("s3://kirby-vanishing/nightly"))

    assert proxy.cut_done and backup.status == Backup.FAILED and "\n" not in backup.error
    assert backup.error.startswith("upload of s3://kirby-vanishing/nightly/pieces/default/base/")
    assert _objects(s3, "kirby-vanishing") == {}  # neither the piece nor a manifest
    refresh_backup_age(time.time())
    assert BACKUP_FAILED._value.get() == 1
