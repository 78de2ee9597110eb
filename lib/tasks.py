"""What Kirby's Celery tasks share: expiry that follows the beat period, and one dispatch per period."""

from lib.redis import client

# A beat message still queued after most of its period is stale: the next one is on its way.
EXPIRY_SHARE_OF_PERIOD = 0.9


def expires_after(period_seconds):
    """Whole seconds (django-celery-beat stores an integer) after which a beat message is dropped unrun."""
    return max(1, int(period_seconds * EXPIRY_SHARE_OF_PERIOD))


def beat_entry(task, period_seconds):
    """A CELERY_BEAT_SCHEDULE entry whose message expires before the next one is sent.

    django-celery-beat's scheduler reads ``expire_seconds``; Celery's own (the demo's) ``expires``.
    """
    expires = expires_after(period_seconds)
    return {"task": task, "schedule": period_seconds, "options": {"expires": expires, "expire_seconds": expires}}


def dispatch_once(name, ttl_seconds):
    """True for the first caller to claim ``name`` within ``ttl_seconds``, False for the others.

    Supervisors run every few seconds; without this, a task message still waiting in its queue
    would be followed by another one on every run.
    """
    ttl_ms = max(1, int(ttl_seconds * 1000))
    return bool(client().set(f"kirby:dispatched:{name}", "1", nx=True, px=ttl_ms))
