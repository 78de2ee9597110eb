"""Per-key caps on queued and running jobs (export jobs, API backfills), held in Redis for every web process.

Each (kind, subject) has a set of the ids of the jobs it started. Before a
new one is admitted, the ids the caller reports finished leave the set; if
``limit`` remain, the request is refused with a 429 that names the limit.
A lock per subject makes the check and the job's creation one step, so two
requests at once cannot both take the last place.
"""

from contextlib import contextmanager

from rest_framework import exceptions

from lib.redis import client

KEEP_SECONDS = 30 * 86400  # a subject idle this long starts afresh


class JobCapReached(exceptions.APIException):
    status_code = 429


def subject_of(request):
    """Whom a job is charged to: the request's API key, else (no key required) its address."""
    key = getattr(request, "kirby_key", None)
    return f"key:{key.id}" if key is not None else f"ip:{request.META.get('REMOTE_ADDR', '')}"


@contextmanager
def admitted(kind, subject, limit, active_of, what, setting):
    """Yield ``add(job_id)`` if ``subject`` has fewer than ``limit`` active ``kind`` jobs, else raise JobCapReached.

    ``active_of(ids)`` returns the ids among ``ids`` whose jobs are still queued or running.
    """
    redis = client()
    key = f"kirby:job-cap:{kind}:{subject}"
    with redis.lock(f"{key}:lock", timeout=30, blocking_timeout=10):
        ids = {member.decode() for member in redis.smembers(key)}
        active = {str(job_id) for job_id in active_of(ids)} if ids else set()
        if ids - active:
            redis.srem(key, *(ids - active))
        if len(active) >= limit:
            raise JobCapReached(
                f"Too many {what}: at most {limit} queued or running per API key ({setting}); "
                "wait for one to finish and try again"
            )
        added = []
        yield added.append
        if added:
            redis.sadd(key, *(str(job_id) for job_id in added))
            redis.expire(key, KEEP_SECONDS)
