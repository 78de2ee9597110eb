"""Signals of reference-data changes.

``reference_data_changed``: sent after bulk changes that bypass model
signals (queryset.update). ``series_created``: sent with
``starlisting_ids`` and ``trading_pair_ids`` when an operator creates
starlistings or trading pairs (config sync, admin), so their history can be
backfilled; plain ORM creates (tests, scripts) do not send it.
"""

from django.dispatch import Signal

reference_data_changed = Signal()
series_created = Signal()
