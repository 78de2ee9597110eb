"""WebSocket routes: ``/ws`` and ``/ws/`` (API.md), with ``?api_key=`` in the query string."""

from django.urls import re_path

from apps.streaming.consumer import StreamConsumer

websocket_urlpatterns = [re_path(r"^ws/?$", StreamConsumer.as_asgi())]
