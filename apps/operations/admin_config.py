"""django.contrib.admin with Kirby's site (admin_site.py); kept apart, as app configs load before any model."""

from django.contrib.admin.apps import AdminConfig


class KirbyAdminConfig(AdminConfig):
    default_site = "apps.operations.admin_site.KirbyAdminSite"
