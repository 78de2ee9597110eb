"""Taking a backup: pieces from one snapshot, unchanged sealed partitions referenced, the manifest last."""

import json
import logging
import subprocess
import threading
import uuid
from datetime import timedelta

import psycopg
from django.conf import settings
from django.utils import timezone

from apps.marketdata.partitions import partition_range
from apps.operations.backups.postgres import BackupError, connect, fingerprint, measure, one_line, server, tables
from apps.operations.backups.targets import CHUNK, TargetError, target_from
from apps.operations.models import Backup

log = logging.getLogger(__name__)
MANIFEST_VERSION = 1


def manifest_name(backup_id):
    return f"manifests/{backup_id}.json"


def _stream(command, env):
    """Yield pg_dump's output in chunks; BackupError if it fails. Closed early (the target failed), pg_dump is
    stopped rather than left blocked on a full pipe."""
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    complete = False
    try:
        while chunk := process.stdout.read(CHUNK):
            yield chunk
        complete = True
    finally:
        if not complete:
            process.kill()
        process.stdout.close()
        stderr = process.stderr.read().decode(errors="replace").strip()
        process.stderr.close()
        status = process.wait()
    if status != 0:
        raise BackupError(f"pg_dump: {(stderr.splitlines() or ['failed'])[-1]}")


def _previous_pieces(alias):
    """{partition: piece} of the newest done backup of the database (the pieces it may reuse)."""
    last = Backup.objects.filter(database=alias, status=Backup.DONE).order_by("-created_at").first()
    if last is None:
        return {}
    # A piece of a backup whose restore check failed may be the broken one: it is dumped afresh.
    suspect = {
        piece["name"]
        for manifest in Backup.objects.filter(database=alias, status=Backup.FAILED).values_list("manifest", flat=True)
        for piece in (manifest or {}).get("pieces", [])
    }
    return {
        piece["table"]: piece
        for piece in last.manifest.get("pieces", [])
        if piece["kind"] == "partition" and piece["name"] not in suspect
    }


def _sealed(partition, now):
    """The partition's month (or day, for trades and books) ended KIRBY_BACKUP_SEAL_DAYS ago."""
    period = partition_range(partition)
    return period is not None and period[1] <= now - timedelta(days=settings.KIRBY_BACKUP_SEAL_DAYS)


def take_backup(alias="default", target=None, now=None):
    """Back up database ``alias``; the Backup (done, or failed with its one-line error)."""
    now = now or timezone.now()
    target = target or target_from()
    backup = Backup.objects.create(
        id=f"{now:%Y%m%dT%H%M%S}-{alias}-{uuid.uuid4().hex[:6]}", database=alias, target=target.url, created_at=now
    )
    try:
        manifest = _dump(backup, alias, target, now)
        target.put(manifest_name(backup.id), [_json(manifest)])
    except Exception as error:  # whatever stopped it, the run is marked failed: never left "running"
        expected = isinstance(error, BackupError | TargetError | OSError | psycopg.Error)
        message = one_line(error if expected else f"{type(error).__name__}: {error}")
        backup.status, backup.error, backup.finished_at = Backup.FAILED, message[:2000], timezone.now()
        backup.save(update_fields=["status", "error", "finished_at"])
        log.error("backup %s failed: %s", backup.id, message, exc_info=not expected)
        _discard(backup, target)
        return backup
    backup.manifest, backup.status, backup.finished_at = manifest, Backup.DONE, timezone.now()
    backup.size = sum(p["size"] for p in manifest["pieces"])
    backup.written = sum(p["size"] for p in manifest["pieces"] if not p["reused"])
    backup.save(update_fields=["manifest", "status", "finished_at", "size", "written"])
    return backup


def _discard(backup, target):
    """Remove what a failed run wrote (on a full disk its pieces would take what little room is left)."""
    try:
        for name in target.names(f"pieces/{backup.database}/"):
            if name.endswith(f"/{backup.id}.dump"):
                target.delete(name)
    except (TargetError, OSError) as error:  # an unreachable target: the rotation removes them later
        log.warning("pieces of failed backup %s not removed: %s", backup.id, error)


def _json(document):
    return json.dumps(document, indent=1, sort_keys=True).encode()


def _dump_and_measure(target, name, command, env, cursor, table_names):
    """((size, sha256), {table: figures}): pg_dump streams to the target in a thread while this connection
    counts and checksums the same tables in the same snapshot, so the two scans share the run's time."""
    outcome = {}

    def upload():
        try:
            outcome["stored"] = target.put(name, _stream(command, env))
        except BaseException as error:  # re-raised in the caller's thread
            outcome["error"] = error

    thread = threading.Thread(target=upload, name=f"backup {name}")
    thread.start()
    try:
        figures = {table: measure(cursor, table) for table in table_names}
    finally:
        thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["stored"], figures


def _dump(backup, alias, target, now):
    env, dbname = server(alias)
    previous = _previous_pieces(alias)
    pieces = []
    with connect(dbname, alias, autocommit=False) as conn, conn.cursor() as cursor:
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        cursor.execute("SELECT pg_export_snapshot()")
        snapshot = cursor.fetchone()[0]
        cursor.execute("SET TIME ZONE 'UTC'")
        base, partitions = tables(cursor)
        dump = ["pg_dump", "--format=custom", f"--snapshot={snapshot}", "--no-owner", "--no-privileges"]
        empty = {}
        for partition, parent in partitions.items():
            cursor.execute(f'SELECT NOT EXISTS (SELECT 1 FROM "{partition}")')
            if cursor.fetchone()[0]:  # its schema is in the base piece; nothing to dump
                empty[partition] = {"rows": 0, "checksum": "0"}
                continue
            mark = fingerprint(cursor, partition)
            old = previous.get(partition)
            if old is not None and old["fingerprint"] == mark and _sealed(partition, now):
                pieces.append({**old, "reused": True})  # neither read nor written again
                continue
            name = f"pieces/{alias}/{partition}/{backup.id}.dump"
            command = [*dump, "--data-only", f"--table=public.{partition}", dbname]
            (size, sha), figures = _dump_and_measure(target, name, command, env, cursor, [partition])
            pieces.append({
                "kind": "partition", "table": partition, "parent": parent, "name": name, "size": size,
                "sha256": sha, "fingerprint": mark, "reused": False, "tables": figures,
            })  # fmt: skip
        excluded = [f"--exclude-table-data=public.{p}" for p in partitions]
        name = f"pieces/{alias}/base/{backup.id}.dump"
        (size, sha), figures = _dump_and_measure(target, name, [*dump, *excluded, dbname], env, cursor, base)
        pieces.insert(0, {
            "kind": "base", "table": None, "name": name, "size": size, "sha256": sha, "reused": False,
            "tables": {**figures, **empty},
        })  # fmt: skip
        conn.rollback()
    return {"version": MANIFEST_VERSION, "id": backup.id, "database": alias, "created_at": now.isoformat(),
            "pieces": pieces}  # fmt: skip
