"""PostgreSQL access for backups: connection settings for pg_dump/pg_restore, table lists, checksums."""

import os
import subprocess

import psycopg
from django.conf import settings

from apps.marketdata.tables import ALL_TABLES, TICK_TABLES

# Their partitions are pieces of their own (trades' and books' daily ones too): the rest is the base piece.
SERIES_TABLES = tuple(spec.name for spec in ALL_TABLES + TICK_TABLES)


class BackupError(Exception):
    """A backup or restore failed; the message is one line for the operator."""

    def __init__(self, message):
        super().__init__(one_line(message))


def one_line(message):
    """A message (or an exception: a database's often spans lines) as one line."""
    return " ".join(str(message).split())


def server(alias="default"):
    """(libpq environment, database name) of a Django alias."""
    db = settings.DATABASES[alias]
    env = {**os.environ, "PGHOST": db.get("HOST") or "", "PGPORT": str(db.get("PORT") or ""), "PGUSER": db["USER"]}
    if db.get("PASSWORD"):
        env["PGPASSWORD"] = db["PASSWORD"]
    return env, db["NAME"]


def connect(dbname, alias="default", **options):
    env, _ = server(alias)
    return psycopg.connect(
        host=env["PGHOST"], port=env["PGPORT"] or None, user=env["PGUSER"], password=env.get("PGPASSWORD"),
        dbname=dbname, **options,
    )  # fmt: skip


def run(command, env, stdin=None):
    """Run a PostgreSQL tool; BackupError with its last stderr line when it fails."""
    done = subprocess.run(command, env=env, stdin=stdin, capture_output=True)
    if done.returncode != 0:
        lines = done.stderr.decode(errors="replace").strip().splitlines() or [f"exit status {done.returncode}"]
        raise BackupError(f"{command[0]}: {lines[-1]}")


def tables(cursor):
    """(base tables, {partition: parent}) of the public schema."""
    cursor.execute(
        "SELECT c.relname, p.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " LEFT JOIN pg_inherits i ON i.inhrelid = c.oid LEFT JOIN pg_class p ON p.oid = i.inhparent"
        " WHERE n.nspname = 'public' AND c.relkind = 'r' ORDER BY c.relname"
    )
    base, partitions = [], {}
    for name, parent in cursor.fetchall():
        if parent in SERIES_TABLES:
            partitions[name] = parent
        else:
            base.append(name)
    return base, partitions


def measure(cursor, table):
    """(rows, content checksum) of a table: an order-independent sum of each row's hash."""
    cursor.execute(f'SELECT count(*), coalesce(sum(hashtextextended(t::text, 0)::numeric), 0)::text FROM "{table}" t')
    rows, checksum = cursor.fetchone()
    return {"rows": rows, "checksum": checksum}


def fingerprint(cursor, table):
    """Changes when the table's rows change: its storage file and its insert/update/delete counters."""
    cursor.execute(
        "SELECT c.relfilenode, s.n_tup_ins, s.n_tup_upd, s.n_tup_del FROM pg_class c"
        " JOIN pg_stat_user_tables s ON s.relid = c.oid WHERE c.oid = %s::regclass",
        [f'"{table}"'],
    )
    return ":".join(str(v) for v in cursor.fetchone())
