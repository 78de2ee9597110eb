"""WSGI entry point (gunicorn) for plain HTTP; static files as in asgi.py."""

import os

from django.contrib.staticfiles.handlers import StaticFilesHandler
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kirby.settings")
application = StaticFilesHandler(get_wsgi_application())
