"""The floor view: what any candles endpoint must at least do, in the same server as Kirby's.

A plain Django function view (no DRF, no view or query code of Kirby's) that
runs the SQL of ``apps.marketdata.queries.candle_rows`` for the newest
``limit`` candles with psycopg and serialises the rows with orjson into the
same body shape. Connections come from a psycopg pool of its own (under ASGI
every request runs in a new thread, so a connection per thread would
reconnect every time), with psycopg's default (C) loaders and, like Kirby's
connections, no prepared statements. The request still passes Django's URL
resolver and the middleware in settings, as Kirby's endpoint does. It takes
the starlisting id in the path, so it skips the name lookup every real
endpoint needs.
"""

import threading

import orjson
from django.conf import settings
from django.http import HttpResponse
from django.urls import path
from psycopg_pool import ConnectionPool

from kirby.urls import urlpatterns as kirby_urlpatterns

FIELDS = ("time", "open", "high", "low", "close", "volume", "num_trades", "closed")
SQL = (
    "SELECT time, open::text, high::text, low::text, close::text, volume::text, num_trades, closed"
    " FROM candles WHERE starlisting_id = %s ORDER BY time DESC LIMIT %s"
)
_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC
_pool = None
_pool_lock = threading.Lock()


def _pool_connection():
    """A connection from the floor's own pool, opened on first use (after Django's settings are loaded)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            database = settings.DATABASES["default"]
            names = {"dbname": "NAME", "user": "USER", "password": "PASSWORD", "host": "HOST", "port": "PORT"}
            kwargs = {key: database[name] for key, name in names.items() if database[name]}
            kwargs.update(autocommit=True, options="-c TimeZone=UTC", prepare_threshold=None)
            _pool = ConnectionPool(kwargs=kwargs, min_size=1, max_size=4, open=True)
    return _pool.connection()


def floor_candles(request, starlisting_id):
    limit = int(request.GET.get("limit", 1000))
    with _pool_connection() as connection, connection.cursor() as cursor:
        cursor.execute(SQL, (starlisting_id, limit))
        rows = cursor.fetchall()
    rows.reverse()
    body = {"data": [dict(zip(FIELDS, row)) for row in rows], "metadata": {"count": len(rows)}}
    return HttpResponse(orjson.dumps(body, option=_OPTIONS), content_type="application/json")


# The ceiling: the answer of the floor view, rendered once per starlisting and kept in this
# process's memory. Serving it costs only Django, the middleware (key, rate limit) and the socket:
# no cache can answer faster from inside the same server.
_prepared = {}


def ceiling_candles(request, starlisting_id):
    limit = int(request.GET.get("limit", 1000))
    body = _prepared.get((starlisting_id, limit))
    if body is None:
        body = _prepared[starlisting_id, limit] = floor_candles(request, starlisting_id).content
    return HttpResponse(body, content_type="application/json")


# Kirby's routes end with a catch-all 404, so the floor routes go first.
urlpatterns = [
    path("floor/candles/<int:starlisting_id>", floor_candles),
    path("ceiling/candles/<int:starlisting_id>", ceiling_candles),
    *kirby_urlpatterns,
]
