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
        from django.db.models.signals import post_delete, post_save

        from apps.marketdata.queries import forget_series
        from apps.markets.signals import reference_data_changed

        post_migrate.connect(_create_partitions, sender=self)
        reference_data_changed.connect(forget_series)
        for model in self.apps.get_app_config("markets").get_models():
            post_save.connect(forget_series, sender=model)
            post_delete.connect(forget_series, sender=model)
