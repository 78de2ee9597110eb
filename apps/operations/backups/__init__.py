"""Backups with PostgreSQL's own tools: pg_dump pieces, a manifest, rotation, and restores that prove them.

A backup of a database is a set of *pieces*, each a ``pg_dump -Fc`` file:
one with the schema and every table but the time-series partitions (reference
data, keys, users, jobs, the gap ledger: small and always changing), and one
per partition. All pieces of a run are dumped from one exported snapshot, so
they agree with each other. A partition whose month ended
KIRBY_BACKUP_SEAL_DAYS ago and whose change counters did not move since the
last backup is not dumped again: the manifest references the earlier piece.
The manifest (written last: a run without one never counts) lists every
piece with its size, SHA-256, and each table's row count and content checksum.

Whatever stops a run (an unreachable target, a full disk, pg_dump) marks it
failed with one line and removes what it wrote; a restore goes through a
staging database that takes the requested name only once every table
matched the manifest.
"""
