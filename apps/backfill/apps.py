from django.apps import AppConfig


class BackfillConfig(AppConfig):
    name = "apps.backfill"
    verbose_name = "Backfill and gaps"

    def ready(self):
        from apps.backfill import receivers  # noqa: F401 (connects signal receivers)
