"""The Django admin as Kirby's: its name, and on its index page the status summary and the operator's links.

The summary is the status document's (apps.operations.status), read when the
index page is shown: streams, starlistings behind, open gaps, backfills.
"""

import logging

from django.conf import settings
from django.contrib import admin

from apps.operations.status import build_status
from apps.operations.status.judge import GREEN

log = logging.getLogger(__name__)


def status_summary():
    """[(label, state, text)] for the index page; one line saying why when the status cannot be read."""
    try:
        status = build_status()
    except Exception as error:  # the admin must open even when Redis or the status is broken
        log.warning("admin index: status unavailable: %s", error)
        return [("Status", "red", f"unavailable: {error}")]
    stars = status["starlistings"]["items"]
    behind = [s for s in stars if s.get("state") != GREEN]
    gaps = sum(s.get("open_gaps") or 0 for s in stars)
    backfill = status["backfill"]
    return [
        ("Overall", status["state"], "; ".join(status["reasons"]) or "all fine"),
        ("Streams", status["streams"]["state"], status["streams"]["reason"]),
        ("Starlistings behind", GREEN if not behind else status["starlistings"]["state"],
         f"{len(behind)} of {len(stars)}" + (": " + ", ".join(s["name"] for s in behind[:5]) if behind else "")),
        ("Open gaps", GREEN if not gaps else "amber", str(gaps)),
        ("Backfills", backfill.get("state", "red"), backfill.get("reason", "")),
    ]  # fmt: skip


class KirbyAdminSite(admin.AdminSite):
    site_header = "Kirby administration"
    site_title = "Kirby admin"
    index_title = "Operations"
    index_template = "admin/kirby_index.html"

    def index(self, request, extra_context=None):
        links = [
            ("Dashboard", "/dashboard"),
            ("Status (JSON)", "/api/status"),
            ("API docs", "/docs"),
            ("Grafana", settings.KIRBY_GRAFANA_URL),
        ]
        context = {"kirby_status": status_summary(), "kirby_links": [link for link in links if link[1]]}
        return super().index(request, {**context, **(extra_context or {})})
