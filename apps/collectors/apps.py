from django.apps import AppConfig


class CollectorsConfig(AppConfig):
    name = "apps.collectors"
    label = "collectors"
    verbose_name = "Collectors"
