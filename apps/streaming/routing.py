"""WebSocket routes: ``/ws`` and ``/ws/`` (API.md), with ``?api_key=`` in the query string."""

from django.urls import re_path

from apps.streaming.connection import stream

websocket_urlpatterns = [re_path(r"^ws/?$", stream)]
