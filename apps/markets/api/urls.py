from django.urls import re_path

from apps.markets.api.views import StarlistingDetailView, StarlistingListView

urlpatterns = [
    re_path(r"^starlistings/?$", StarlistingListView.as_view(), name="starlistings"),
    re_path(r"^starlistings/(?P<starlisting_id>[^/]+)/?$", StarlistingDetailView.as_view(), name="starlisting"),
]
