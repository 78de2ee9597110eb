"""Restoring a backup into a database, and proving a backup by restoring it into a scratch database."""

import hashlib
import json
import logging
import tempfile
import threading
from pathlib import Path

import psycopg
from django.conf import settings
from django.utils import timezone

from apps.operations.backups.dump import manifest_name
from apps.operations.backups.postgres import BackupError, connect, measure, run, server, tables
from apps.operations.backups.targets import TargetError, target_from
from apps.operations.models import Backup

log = logging.getLogger(__name__)


def _fetch(target, piece, directory):
    """The piece as a local file (a local target's own, else downloaded), its size and SHA-256 checked."""
    local = getattr(target, "path_of", None)
    path = local(piece["name"]) if local else Path(directory) / piece["name"].replace("/", "_")
    digest, size = hashlib.sha256(), 0
    out = None if local else open(path, "wb")
    try:
        for chunk in target.read(piece["name"]):
            digest.update(chunk)
            size += len(chunk)
            if out is not None:
                out.write(chunk)
    finally:
        if out is not None:
            out.close()
    if size != piece["size"] or digest.hexdigest() != piece["sha256"]:
        raise BackupError(
            f"piece {piece['name']} is corrupt or truncated: {size} bytes, sha256 {digest.hexdigest()[:12]}…,"
            f" the manifest says {piece['size']} bytes, sha256 {piece['sha256'][:12]}…"
        )
    return path


def from_target(backup_id, target=None):
    """A Backup (not saved) from its manifest in the target: for restoring when the backup list is lost."""
    target = target or target_from()
    try:
        manifest = json.loads(b"".join(target.read(manifest_name(backup_id))))
    except (TargetError, ValueError) as error:
        raise BackupError(f"no restorable backup {backup_id!r}: {error}") from None
    return Backup(id=backup_id, database=manifest["database"], target=target.url, status=Backup.DONE,
                  manifest=manifest)  # fmt: skip


def on_target(target=None):
    """Ids of the backups whose manifest the target holds (written last: complete runs only), newest first."""
    target = target or target_from()
    try:
        names = target.names("manifests/")
    except TargetError as error:
        raise BackupError(str(error)) from None
    return sorted((n.removeprefix("manifests/").removesuffix(".json") for n in names if n.endswith(".json")),
                  reverse=True)  # fmt: skip


def _users(conn, dbname):
    return conn.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", [dbname]
    ).fetchone()[0]


def _check_destination(conn, dbname, alias, force):
    """True if ``dbname`` exists; BackupError if it holds tables (without ``force``) or anyone is connected."""
    if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [dbname]).fetchone():
        return False
    users = _users(conn, dbname)
    if users:  # even with --force: replacing a database under a running Kirby would corrupt what it does
        raise BackupError(f"database {dbname} is in use by {users} other session(s); stop them first")
    with connect(dbname, alias) as existing:
        filled = existing.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()[0]
    if filled and not force:
        raise BackupError(f"database {dbname} is not empty ({filled} tables); use --force to replace it")
    return True


def _fresh(conn, dbname):
    """An empty database ``dbname``, dropping one left behind by an interrupted run (refused while in use)."""
    users = _users(conn, dbname)
    if users:
        raise BackupError(f"database {dbname} is in use by {users} other session(s): is a restore running?")
    conn.execute(f'DROP DATABASE IF EXISTS "{dbname}"')
    conn.execute(f'CREATE DATABASE "{dbname}"')


def _database_error(dbname, error):
    if isinstance(error, psycopg.errors.ObjectInUse):
        return BackupError(f"database {dbname} is in use by other sessions; stop them first")
    return BackupError(f"database {dbname}: {error}")


def restore(backup, dbname, *, force=False, target=None):
    """Restore ``backup`` into database ``dbname`` and compare every table with the manifest.

    The restore goes into a staging database that replaces ``dbname`` only once every table matched: a
    failed restore leaves no half-restored database behind, and a database replaced with ``force`` is kept.
    """
    if backup.status != Backup.DONE:
        raise BackupError(f"backup {backup.id} is {backup.status}, not restorable")
    alias = backup.database if backup.database in settings.DATABASES else "default"
    staging = f"{dbname[:52]}_restoring"
    try:
        with connect("postgres", alias, autocommit=True) as conn:
            _check_destination(conn, dbname, alias, force)
            _fresh(conn, staging)
        try:
            _restore_into(backup, staging, alias, target)
        except BaseException:
            with connect("postgres", alias, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{staging}"')
            raise
        with connect("postgres", alias, autocommit=True) as conn:
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [dbname]).fetchone():
                users = _users(conn, dbname)  # again: a session may have connected meanwhile
                if users:
                    conn.execute(f'DROP DATABASE "{staging}"')
                    raise BackupError(f"database {dbname} is in use by {users} other session(s); stop them first")
                conn.execute(f'DROP DATABASE "{dbname}"')
            conn.execute(f'ALTER DATABASE "{staging}" RENAME TO "{dbname}"')
    except psycopg.Error as error:
        raise _database_error(dbname, error) from None


def _restore_into(backup, dbname, alias, target=None):
    """Restore into the empty database ``dbname`` and compare every table with the manifest."""
    target = target or target_from(backup.target)
    env, _ = server(alias)
    pieces = backup.manifest["pieces"]
    with tempfile.TemporaryDirectory(prefix="kirby-restore-") as directory:
        try:
            paths = [_fetch(target, piece, directory) for piece in pieces]
        except TargetError as error:
            raise BackupError(str(error)) from None
        except OSError as error:  # the download directory (TMPDIR) is full or not writable
            raise BackupError(f"cannot download the pieces to {directory}: {error.strerror or error}") from None
        tool = ["pg_restore", "--no-owner", "--no-privileges", "--exit-on-error", f"--dbname={dbname}"]
        run([*tool, str(paths[0])], env)  # the base piece: schema, partitions included, and small tables
        with connect(dbname, alias, autocommit=True) as conn, conn.cursor() as cursor:
            cursor.execute("SET TIME ZONE 'UTC'")
            _present(cursor, pieces)
            # Each partition piece is restored while the previous piece's tables are compared.
            checked = pieces[0]
            for piece, path in zip(pieces[1:], paths[1:]):
                outcome = {}
                thread = threading.Thread(target=_restore_piece, args=([*tool, "--data-only", str(path)], env, outcome))
                thread.start()
                try:
                    _compare(cursor, checked)
                finally:
                    thread.join()
                if "error" in outcome:
                    raise outcome["error"]
                checked = piece
            _compare(cursor, checked)


def _restore_piece(command, env, outcome):
    try:
        run(command, env)
    except BaseException as error:  # re-raised in the caller's thread
        outcome["error"] = error


def _present(cursor, pieces):
    base, partitions = tables(cursor)
    missing = sorted({name for piece in pieces for name in piece["tables"]} - set(base) - set(partitions))
    if missing:
        raise BackupError(f"restored database lacks table(s) {', '.join(missing[:5])}")


def _compare(cursor, piece):
    """The piece's tables hold the manifest's row counts and checksums; BackupError naming the first that does not."""
    for name, figures in sorted(piece["tables"].items()):
        got = measure(cursor, name)
        if got != figures:
            raise BackupError(f"table {name} restored with {got['rows']} rows (checksum {got['checksum']}),"
                              f" the manifest says {figures['rows']} (checksum {figures['checksum']})")  # fmt: skip


def verify(backup, target=None):
    """Restore into a scratch database, compare, drop it. Marks the backup verified, or failed; True if it passed."""
    alias = backup.database
    _, dbname = server(alias)
    scratch = f"{dbname}_verify"[:63]
    with connect("postgres", alias, autocommit=True) as conn:
        _fresh(conn, scratch)  # refused (BackupError) while another check runs: that is not the backup's fault
    try:
        _restore_into(backup, scratch, alias, target)
    except BackupError as error:
        backup.status, backup.error = Backup.FAILED, f"restore check failed: {error}"[:2000]
        backup.save(update_fields=["status", "error"])
        try:  # nor is it offered for a restore on a machine that knows only the target
            (target or target_from(backup.target)).delete(manifest_name(backup.id))
        except (TargetError, OSError) as problem:
            log.warning("manifest of failed backup %s not removed: %s", backup.id, problem)
        return False
    finally:
        with connect("postgres", alias, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{scratch}"')
    backup.verified_at = timezone.now()
    backup.save(update_fields=["verified_at"])
    return True
