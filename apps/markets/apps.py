from django.apps import AppConfig


class MarketsConfig(AppConfig):
    name = "apps.markets"
    label = "markets"
    verbose_name = "Markets"

    def ready(self):
        from django.db.models.signals import post_delete, post_save

        from apps.markets.cache import markets_changed
        from apps.markets.signals import reference_data_changed

        reference_data_changed.connect(markets_changed, dispatch_uid="apps.markets.cache")
        for model in self.get_models():
            post_save.connect(markets_changed, sender=model, dispatch_uid=f"apps.markets.cache.{model.__name__}")
            post_delete.connect(markets_changed, sender=model, dispatch_uid=f"apps.markets.cache.d.{model.__name__}")
