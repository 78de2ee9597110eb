"""Emptying a transactional test's database and putting the migrations' data back, quickly.

After a transactional test Django empties every table (``flush``) and, before the next one with
serialized rollback, loads back the snapshot of the migrations' data (content types, permissions,
intervals) it took when it created the test database. The suite has ~150 such tests, so both steps
matter: on a loaded 2-core machine Django's way took 1-1.5 s a test (TRUNCATE gives each of the 118
tables, partitions and indexes a new file; the snapshot went in with one ``save()``, an UPDATE then an
INSERT, per row), this takes 0.1-0.3 s. The database ends in the same state.

- Emptying: DELETE FROM each table instead of one TRUNCATE of all (the tables hold a few rows).
  The foreign keys are deferred to the end of the flush's transaction, so the order does not matter.
- Loading: one INSERT per model; rows already there (the database was not emptied) are left as they
  are, as ``save()`` would have left them.

tests/conftest.py puts both in place of Django's for the session.
"""

from collections import defaultdict
from io import StringIO

from django.core import serializers
from django.db import transaction
from django.db.backends.postgresql.operations import DatabaseOperations

truncate_statements = DatabaseOperations.sql_flush


def delete_statements(operations, style, tables, *, reset_sequences=False, allow_cascade=False):
    """Stands in for ``DatabaseOperations.sql_flush``; a flush that resets sequences or cascades truncates."""
    if reset_sequences or allow_cascade:
        return truncate_statements(
            operations, style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade
        )
    return [f"{style.SQL_KEYWORD('DELETE FROM')} {style.SQL_FIELD(operations.quote_name(table))};" for table in tables]


def load(connection, snapshot):
    rows = defaultdict(list)
    with_relations = []
    with transaction.atomic(using=connection.alias):
        for item in serializers.deserialize("json", StringIO(snapshot), using=connection.alias):
            if item.m2m_data:
                with_relations.append(item)  # many-to-many rows need the object saved first
            else:
                rows[type(item.object)].append(item.object)
        for model, objects in rows.items():
            model._base_manager.using(connection.alias).bulk_create(objects, ignore_conflicts=True)
        for item in with_relations:
            item.save()


def load_snapshot(creation, snapshot):
    """Stands in for ``BaseDatabaseCreation.deserialize_db_from_string``."""
    load(creation.connection, snapshot)
