from kirby.celery import app as celery_app
from lib.version import VERSION

__all__ = ["celery_app"]
__version__ = VERSION
