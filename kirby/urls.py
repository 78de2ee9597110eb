from django.contrib import admin
from django.urls import include, re_path
from django.views.generic import RedirectView
from drf_spectacular.renderers import OpenApiJsonRenderer
from drf_spectacular.views import SpectacularRedocView, SpectacularSwaggerView

from apps.access.policy import PUBLIC, mark
from apps.operations.views.dashboard import dashboard, dashboard_data
from apps.operations.views.metrics import metrics
from apps.operations.views.service import HealthView, LivezView, ReadyzView, RootView
from apps.operations.views.status import StatusView
from lib.http.errors import not_found
from lib.http.schema_view import CachedSchemaView

handler404 = "lib.http.errors.not_found"
handler500 = "lib.http.errors.server_error"

urlpatterns = [
    re_path(r"^$", RootView.as_view(), name="root"),
    re_path(r"^health/?$", HealthView.as_view(), name="health"),
    re_path(r"^livez/?$", LivezView.as_view(), name="livez"),
    re_path(r"^readyz/?$", ReadyzView.as_view(), name="readyz"),
    re_path(r"^metrics/?$", metrics, name="metrics"),
    re_path(r"^api/status/?$", StatusView.as_view(), name="status"),
    re_path(r"^dashboard/?$", dashboard, name="dashboard"),
    re_path(r"^dashboard/status\.json$", dashboard_data, name="dashboard-data"),
    re_path(r"^api/schema/?$", mark(CachedSchemaView.as_view(), PUBLIC), name="schema"),
    # Kirby 1.x served its schema here; clients generated from it keep working.
    re_path(
        r"^openapi\.json$",
        mark(CachedSchemaView.as_view(renderer_classes=[OpenApiJsonRenderer]), PUBLIC),
        name="openapi-json",
    ),
    re_path(r"^docs/?$", mark(SpectacularSwaggerView.as_view(url_name="schema"), PUBLIC), name="docs"),
    re_path(r"^redoc/?$", mark(SpectacularRedocView.as_view(url_name="schema"), PUBLIC), name="redoc"),
    re_path(r"^admin$", mark(RedirectView.as_view(url="/admin/"), PUBLIC)),
    # Key management (API keys with the admin scope) before the Django admin's own pages.
    re_path(r"", include("apps.access.api.urls")),
    re_path(r"^admin/", admin.site.urls),
    re_path(r"", include("apps.markets.api.urls")),
    re_path(r"", include("apps.marketdata.api.urls")),
    re_path(r"", include("apps.backfill.api.urls")),
    # Unknown paths answer JSON even with DEBUG on (Django would render HTML).
    re_path(r"", mark(not_found, PUBLIC)),
]
