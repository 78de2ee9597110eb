"""Database routing: everything lives in ``default`` unless a caller names another alias.

The training database (alias ``training``) holds the same schema with
historical-only data. Only code that passes ``using="training"`` (exports,
``sync_starlistings --database training``, the training backfill) reaches
it; the live API, the collectors and the admin read and write ``default``.
Objects loaded from an alias keep using it for their related lookups and
saves, so a training starlisting never drags a query into ``default``.

Read replicas (``replica1``...) are copies of ``default``: reads made inside
the read API's views go to a serving one (lib.replicas); an object read from
a replica is saved to, and related to objects of, ``default``. Migrations
never run on a replica (it follows the primary's schema).
"""

from lib import replicas


def _live(alias):
    return "default" if replicas.is_replica(alias) else alias


class LiveDatabaseRouter:
    def _alias(self, hints):
        instance = hints.get("instance")
        if instance is not None and instance._state.db:
            return instance._state.db
        return "default"

    def db_for_read(self, model, **hints):
        alias = self._alias(hints)
        if alias == "default":
            return replicas.replica_for_read() or "default"
        return alias

    def db_for_write(self, model, **hints):
        return _live(self._alias(hints))

    def allow_relation(self, obj1, obj2, **hints):
        return _live(obj1._state.db or "default") == _live(obj2._state.db or "default")

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        # The same schema on every alias (`migrate --database training`), but a replica copies its primary.
        return not replicas.is_replica(db)
