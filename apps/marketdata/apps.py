from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _create_partitions(using, **kwargs):
    from django.conf import settings

    from apps.marketdata.partitions import ensure_partitions_ahead

    ensure_partitions_ahead(settings.KIRBY_PARTITION_MONTHS_AHEAD, using=using)


class MarketdataConfig(AppConfig):
    name = "apps.marketdata"
    label = "marketdata"
    verbose_name = "Market data"

    def ready(self):
        post_migrate.connect(_create_partitions, sender=self)
