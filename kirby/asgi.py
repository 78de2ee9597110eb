"""ASGI entry point (Daphne): HTTP, and the WebSocket stream at /ws.

Static files (admin, Swagger UI, ReDoc) are served by Django's static
handler so that one `make run` process needs nothing else; behind nginx
(docker-compose) nginx serves them and this path is never hit.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kirby.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402  (needs Django set up first)
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402

from apps.streaming.routing import websocket_urlpatterns  # noqa: E402

# No origin validator on /ws: browser clients opened from files send
# `Origin: null` and must be accepted (API.md); API keys guard the stream.
application = ProtocolTypeRouter(
    {
        "http": ASGIStaticFilesHandler(django_asgi_app),
        "websocket": URLRouter(websocket_urlpatterns),
    }
)
