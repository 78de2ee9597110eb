"""Read replicas: which ones may serve reads now, decided by a background check, never per request.

Each replica (``DATABASE_REPLICA_URLS``, aliases ``replica1``, ``replica2``, ...)
is checked every ``KIRBY_REPLICA_CHECK_SECONDS`` by a daemon thread of the
process (started on first use, again after a fork): it must answer, still be
a standby, and have replayed everything it received or lag at most
``KIRBY_REPLICA_MAX_LAG_SECONDS``. Requests only look up the last verdict.

Only code running inside ``reads_from_replicas()`` (the read API's views, see
kirby.replica_middleware) is sent to a replica; everything else, writes and
anything that must read its own writes, stays on the primary.
"""

import contextvars
import logging
import os
import random
import threading
import time
from contextlib import contextmanager

import psycopg
from django.conf import settings

from lib.metrics import REPLICA_LAG, REPLICA_SERVING

log = logging.getLogger(__name__)

# Lag: 0 while everything received is replayed (an idle primary sends nothing), else the age of
# the last replayed commit (the primary did commit since then: it is waiting in the WAL).
LAG_QUERY = """
SELECT pg_is_in_recovery(),
       CASE WHEN pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn() THEN 0
            ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 0)::float8 END
"""

_reading = contextvars.ContextVar("kirby_reads_from_replicas", default=False)


def aliases():
    return list(settings.KIRBY_REPLICA_ALIASES)


def is_replica(alias):
    return alias in settings.KIRBY_REPLICA_ALIASES


def begin_replica_reads():
    """From now on reads in this context go to a serving replica, when there is one."""
    _reading.set(True)


def end_replica_reads():
    # Set, not reset with a token: under ASGI the request's middleware and its view may run in
    # different copies of the context, and a token only resets the context it came from.
    _reading.set(False)


@contextmanager
def reads_from_replicas():
    """Reads made inside go to a serving replica, when there is one."""
    token = _reading.set(True)
    try:
        yield
    finally:
        _reading.reset(token)


def replica_for_read():
    """A serving replica's alias for a read made inside ``reads_from_replicas()``, else None (the primary)."""
    if not settings.KIRBY_REPLICA_ALIASES or not _reading.get():
        return None
    serving = [alias for alias, state in monitor().states().items() if state["serving"]]
    return random.choice(serving) if serving else None


def read_alias(using="default"):
    """The alias raw SQL of a read should run on: a serving replica inside the read API, else ``using``."""
    if using != "default":
        return using
    return replica_for_read() or using


def status():
    """{alias: {serving, lag_seconds, checked_at, reason}} as this process's check last found them."""
    return monitor().states() if settings.KIRBY_REPLICA_ALIASES else {}


def check(alias):
    """(serving, lag in seconds or None, reason) of one replica, measured now."""
    database = settings.DATABASES[alias]
    try:
        with psycopg.connect(
            host=database["HOST"] or None,
            port=database["PORT"] or None,
            dbname=database["NAME"],
            user=database["USER"] or None,
            password=database["PASSWORD"] or None,
            connect_timeout=max(1, round(settings.KIRBY_REPLICA_CHECK_SECONDS)),
            application_name="kirby-replica-check",
            options="-c statement_timeout=5000",
        ) as connection:
            in_recovery, lag = connection.execute(LAG_QUERY).fetchone()
    except psycopg.Error as error:
        return False, None, f"unreachable: {str(error).strip().splitlines()[0] if str(error).strip() else error}"
    if not in_recovery:
        return False, None, "not a standby (promoted?): not used for reads"
    limit = settings.KIRBY_REPLICA_MAX_LAG_SECONDS
    if lag > limit:
        return False, lag, f"lags {lag:.1f} s (more than {limit:g} s)"
    return True, lag, f"lag {lag:.1f} s"


class Monitor:
    def __init__(self):
        self.pid = os.getpid()
        self._states = {
            alias: {"serving": False, "lag_seconds": None, "checked_at": None, "reason": "not checked yet"}
            for alias in aliases()
        }
        self._lock = threading.Lock()
        self._checked = threading.Event()
        self._thread = threading.Thread(target=self._run, name="kirby-replica-check", daemon=True)
        self._thread.start()

    def states(self):
        with self._lock:
            return {alias: dict(state) for alias, state in self._states.items()}

    def wait_first_check(self, timeout):
        return self._checked.wait(timeout)

    def _run(self):
        while True:
            for alias in aliases():
                serving, lag, reason = check(alias)
                with self._lock:
                    was = self._states[alias]["serving"]
                    self._states[alias] = {
                        "serving": serving, "lag_seconds": lag, "checked_at": time.time(), "reason": reason,
                    }  # fmt: skip
                if was != serving:
                    log.warning("read replica %s %s: %s", alias, "serving" if serving else "skipped", reason)
                REPLICA_SERVING.labels(alias).set(1 if serving else 0)
                if lag is not None:
                    REPLICA_LAG.labels(alias).set(lag)
            self._checked.set()
            time.sleep(settings.KIRBY_REPLICA_CHECK_SECONDS)


_monitor = None
_monitor_lock = threading.Lock()


def monitor():
    """This process's monitor (a forked child starts its own: threads do not survive a fork)."""
    global _monitor
    if _monitor is None or _monitor.pid != os.getpid():
        with _monitor_lock:
            if _monitor is None or _monitor.pid != os.getpid():
                _monitor = Monitor()
    return _monitor
