import logging

from django.apps import AppConfig
from django.conf import settings

log = logging.getLogger("apps.access")

AUTH_OFF_WARNING = (
    "KIRBY_AUTH_REQUIRED=false: data endpoints and /ws need no API key and nothing is rate-limited"
    " (the admin API still requires an admin key)"
)


class AccessConfig(AppConfig):
    name = "apps.access"
    label = "access"
    verbose_name = "Access"

    def ready(self):
        from apps.access import signals  # noqa: F401

        if not settings.KIRBY_AUTH_REQUIRED:
            log.warning(AUTH_OFF_WARNING)
