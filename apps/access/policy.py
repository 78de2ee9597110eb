"""Who may call what: every view has an access level, "read" unless it says otherwise.

- ``exempt``: probes (/health, /livez, /readyz, /metrics) and the Django admin
  (which has its own login): no key, no rate limit, no usage record. The
  admin's login page is ``public``: password guessing meets the per-IP limit.
- ``probe``: /health: no key, no usage record, but limited per client
  address (``KIRBY_HEALTH_RATE_LIMIT_PER_MINUTE``, generous so load
  balancers polling from one address keep working).
- ``public``: no key needed (/, the OpenAPI schema and docs, unknown paths);
  rate-limited per key when a valid one is sent, else per IP.
- ``read``: market data; a key with the read (or admin) scope.
- ``admin``: management; a key with the admin scope, even when
  ``KIRBY_AUTH_REQUIRED`` is off (that switch opens data, never management).

A view states its level with a class attribute ``access`` (or an
attribute on a function view); ``mark`` sets it on views defined elsewhere.
"""

from django.conf import settings

EXEMPT = "exempt"
PROBE = "probe"
PUBLIC = "public"
READ = "read"
ADMIN = "admin"
LEVELS = (EXEMPT, PROBE, PUBLIC, READ, ADMIN)


def mark(view, level):
    """Set the access level of a view function (e.g. a third-party view's ``as_view()``)."""
    assert level in LEVELS, level
    view.access = level
    return view


def level_of(request, view_func):
    match = request.resolver_match
    if match is not None and match.app_name == "admin":
        return PUBLIC if match.url_name == "login" else EXEMPT
    level = getattr(view_func, "access", None)
    if level is None:
        level = getattr(getattr(view_func, "cls", None), "access", READ)
    return level


def presented_key(request):
    """The key from ``Authorization: Bearer`` or ``X-API-Key``; None when neither is there."""
    authorization = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return request.META.get("HTTP_X_API_KEY", "").strip() or None


def client_ip(request):
    """The client's address: the configured proxy header when set, else the socket peer."""
    peer = request.META.get("REMOTE_ADDR")
    return client_address(peer, lambda name: request.META.get("HTTP_" + name, "")) or "0.0.0.0"


def client_address(peer, header):
    """``KIRBY_CLIENT_IP_HEADER``'s address when set and sent, else ``peer``.

    ``header(NAME)`` returns a request header by its upper-case, underscored name.
    """
    name = settings.KIRBY_CLIENT_IP_HEADER
    if name:
        # Of an X-Forwarded-For list only the last entry, appended by our own proxy, can be trusted.
        address = header(name.upper().replace("-", "_")).split(",")[-1].strip()
        if address:
            return address
    return peer
