from kirby.celery import app as celery_app

__all__ = ["celery_app"]
__version__ = "2.0.0"
