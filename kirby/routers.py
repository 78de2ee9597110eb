"""Database routing: everything lives in ``default`` unless a caller names another alias.

The training database (alias ``training``) holds the same schema with
historical-only data. Only code that passes ``using="training"`` (exports,
``sync_starlistings --database training``, the training backfill) reaches
it; the live API, the collectors and the admin read and write ``default``.
Objects loaded from an alias keep using it for their related lookups and
saves, so a training starlisting never drags a query into ``default``.
"""


class LiveDatabaseRouter:
    def _alias(self, hints):
        instance = hints.get("instance")
        if instance is not None and instance._state.db:
            return instance._state.db
        return "default"

    def db_for_read(self, model, **hints):
        return self._alias(hints)

    def db_for_write(self, model, **hints):
        return self._alias(hints)

    def allow_relation(self, obj1, obj2, **hints):
        return (obj1._state.db or "default") == (obj2._state.db or "default")

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return True  # the same schema on every alias (`migrate --database training`)
