from django.urls import re_path

from apps.access.api import views

_ID = r"(?P<{}>[^/]+)"

urlpatterns = [
    re_path(r"^admin/users/?$", views.UsersView.as_view(), name="admin-users"),
    re_path(rf"^admin/users/{_ID.format('user_id')}/?$", views.UserView.as_view(), name="admin-user"),
    re_path(rf"^admin/users/{_ID.format('user_id')}/keys/?$", views.UserKeysView.as_view(), name="admin-user-keys"),
    re_path(rf"^admin/keys/{_ID.format('key_id')}/?$", views.KeyView.as_view(), name="admin-key"),
    re_path(rf"^admin/keys/{_ID.format('key_id')}/rotate/?$", views.KeyRotateView.as_view(), name="admin-key-rotate"),
    re_path(rf"^admin/keys/{_ID.format('key_id')}/usage/?$", views.KeyUsageView.as_view(), name="admin-key-usage"),
]
