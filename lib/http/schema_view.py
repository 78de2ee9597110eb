"""The public /api/schema/ view, apart from lib.http.schema: drf-spectacular's views import the schema class."""

import time

from django.conf import settings
from drf_spectacular.views import SpectacularAPIView
from rest_framework.response import Response


class CachedSchemaView(SpectacularAPIView):
    """/api/schema/, public: the document is generated once per ``KIRBY_SCHEMA_CACHE_SECONDS`` per process.

    Generating it walks every view (about 30 ms, plus the reference data behind the path enums); anyone
    may ask for it, so repeated calls must not repeat that work. A change of markets shows within the period.
    """

    _cache = {}  # (version, public) -> (monotonic time it expires, schema)

    def _get_schema_response(self, request):
        seconds = settings.KIRBY_SCHEMA_CACHE_SECONDS
        version = self.api_version or request.version or self._get_version_parameter(request)
        key, now = (version, self.serve_public), time.monotonic()
        cached = self._cache.get(key)
        if seconds <= 0 or cached is None or cached[0] <= now:
            response = super()._get_schema_response(request)
            self._cache[key] = (now + seconds, response.data)
            return response
        return Response(
            data=cached[1],
            headers={"Content-Disposition": f'inline; filename="{self._get_filename(request, version)}"'},
        )
