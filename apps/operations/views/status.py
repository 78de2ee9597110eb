"""/api/status: the status document, for API keys with the admin scope."""

from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny

from apps.operations.status import build_status
from lib.http.render import JsonView, json_response


class StatusView(JsonView):
    access = "admin"
    permission_classes = [AllowAny]
    authentication_classes = []

    @extend_schema(
        operation_id="status",
        summary="Everything an operator watches: streams, starlisting freshness, workers, queues, errors",
        responses={200: dict},
    )
    def get(self, request):
        return json_response(build_status())
