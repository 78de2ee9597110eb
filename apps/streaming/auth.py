"""Who may open /ws: the hook the API-key issue fills in.

``authenticate(scope)`` runs once per connection before it is accepted. It
returns what the connection is allowed to act as (None for now: everyone
is accepted) or raises ``Rejected``. The consumer accepts a rejected
connection and closes it at once with the code and reason, because a
WebSocket refused during the handshake only learns "403" (API.md: 4001
auth, 4003 forbidden, 4029 too many connections).

The key arrives as ``/ws?api_key=<key>`` (Kirby 1.x) or in the
Authorization header; ``api_key(scope)`` finds it.
"""

from urllib.parse import parse_qs

UNAUTHORIZED = 4001
FORBIDDEN = 4003
TOO_MANY_CONNECTIONS = 4029


class Rejected(Exception):
    def __init__(self, code, reason):
        super().__init__(reason)
        self.code = code
        self.reason = reason


async def authenticate(scope):
    """Accept everyone until API keys arrive."""
    return None


def api_key(scope):
    """The key from ``?api_key=`` or ``Authorization: Bearer``, or None."""
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    if query.get("api_key"):
        return query["api_key"][0]
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            scheme, _, credentials = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and credentials.strip():
                return credentials.strip()
    return None
