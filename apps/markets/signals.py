"""``reference_data_changed``: sent after bulk changes that bypass model signals (queryset.update)."""

from django.dispatch import Signal

reference_data_changed = Signal()
