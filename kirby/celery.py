"""The Celery app: broker Redis, schedules from django-celery-beat."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kirby.settings")

app = Celery("kirby")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
