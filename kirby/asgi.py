"""ASGI entry point (Daphne): HTTP now; WebSocket routes join the router at /ws.

Static files (admin, Swagger UI, ReDoc) are served by Django's static
handler so that one `make run` process needs nothing else; behind nginx
(docker-compose) nginx serves them and this path is never hit.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kirby.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter  # noqa: E402  (needs Django set up first)
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402

application = ProtocolTypeRouter({"http": ASGIStaticFilesHandler(django_asgi_app)})
