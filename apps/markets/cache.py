"""Reference data in the response cache (lib/cache): every answer that names an exchange, pair or
starlisting depends on ``MARKETS_TAG``, and any change of the markets tables makes those answers stale.

Changes come from the admin, ``sync_starlistings`` and scripts: model signals for saves and deletes,
``reference_data_changed`` for bulk updates. The tag is bumped at once and again after commit, so a
reader that computed from the old rows while the change was committing cannot store them.
"""

from django.db import transaction

from lib import cache

MARKETS_TAG = "markets"


def markets_changed(sender=None, using="default", **kwargs):
    cache.invalidate([MARKETS_TAG])
    transaction.on_commit(lambda: cache.invalidate([MARKETS_TAG]), using=using or "default")
