from django.urls import re_path

from apps.backfill.api.views import BackfillDetailView, BackfillListView, GapListView

urlpatterns = [
    re_path(r"^backfills/?$", BackfillListView.as_view(), name="backfills"),
    re_path(r"^backfills/(?P<job_id>[^/]+)/?$", BackfillDetailView.as_view(), name="backfill"),
    re_path(r"^gaps/?$", GapListView.as_view(), name="gaps"),
]
