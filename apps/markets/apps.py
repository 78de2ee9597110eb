from django.apps import AppConfig


class MarketsConfig(AppConfig):
    name = "apps.markets"
    label = "markets"
    verbose_name = "Markets"
