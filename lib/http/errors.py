"""Error bodies as API.md specifies: ``{"detail": ...}``, plus ``errors`` on 400s."""

from django.http import JsonResponse
from rest_framework import exceptions
from rest_framework.views import exception_handler as drf_exception_handler


class InvalidParameters(exceptions.APIException):
    """A 400 naming each bad parameter: ``errors: [{"loc": ["query", name], "msg": ...}]``."""

    status_code = 400

    def __init__(self, errors, sentence=None):
        self.errors = errors  # [(location, name, message)]
        self.sentence = sentence  # the whole detail, when 1.x had words of its own for it
        super().__init__(detail="; ".join(f"{name}: {msg}" for _, name, msg in errors))


class BadRequest(exceptions.APIException):
    status_code = 400


class NotFound(exceptions.APIException):
    status_code = 404


def exception_handler(exc, context):
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, InvalidParameters):
        response.data = {
            # 1.x's words first ("Validation error"), then each parameter named.
            "detail": exc.sentence or f"Validation error: {exc.detail}",
            "errors": [{"loc": [where, name], "msg": msg} for where, name, msg in exc.errors],
        }
    elif isinstance(exc, exceptions.MethodNotAllowed):
        response.data = {"detail": "Method Not Allowed"}  # 1.x's words
    elif isinstance(response.data, dict) and "detail" in response.data:
        response.data = {"detail": str(response.data["detail"])}
    else:
        response.data = {"detail": "Invalid request", "errors": response.data}
    return response


def not_found(request, exception=None):
    return JsonResponse({"detail": "Not Found"}, status=404)


def server_error(request):
    return JsonResponse({"detail": "Internal server error"}, status=500)  # 1.x's words
