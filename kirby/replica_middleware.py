"""The read API's views read from a replica (lib.replicas); everything else stays on the primary.

Only GET and HEAD of data endpoints (access level READ) qualify: the key check
before them, the admin, management endpoints and every write keep reading
their own writes from the primary. Replica reads last until the response is
built and rendered (a DRF response serialises after the view returns).
"""

from apps.access.policy import READ, level_of
from lib import replicas


class ReplicaReadsMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            return self.get_response(request)
        finally:
            replicas.end_replica_reads()

    def process_view(self, request, view_func, view_args, view_kwargs):
        if request.method in ("GET", "HEAD") and level_of(request, view_func) == READ:
            replicas.begin_replica_reads()
        return None
