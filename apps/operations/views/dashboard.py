"""/dashboard: the status document as a page for staff, behind the Django admin's login.

The page is rendered on the server (complete without JavaScript, with a
plain refresh link); ``static/operations/dashboard.js`` then fetches
``/dashboard/status.json`` every ``KIRBY_DASHBOARD_REFRESH_SECONDS`` (10) and redraws the
sections in place, so the page neither reloads nor loses its scroll
position. Plots are inline SVG, drawn here for the first render and by the
script afterwards, from the same points.
"""

from django.conf import settings
from django.contrib.admin.views.decorators import staff_member_required
from django.shortcuts import render
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from apps.access.policy import EXEMPT, mark
from apps.operations.status import build_status
from lib.http.render import json_response

PLOT_WIDTH, PLOT_HEIGHT = 320, 60


def sparkline(points, width=PLOT_WIDTH, height=PLOT_HEIGHT):
    """An SVG line of ``[[t, value], ...]`` scaled to the box, with its latest and highest value in words."""
    if len(points) < 2:
        return format_html(
            '<svg class="plot" width="{}" height="{}" role="img"><text x="4" y="20">no data yet</text></svg>',
            width,
            height,
        )
    t0, t1 = points[0][0], points[-1][0]
    top = max(value for _, value in points) or 1
    span = (t1 - t0) or 1
    coordinates = " ".join(
        f"{(t - t0) / span * (width - 2) + 1:.1f},{height - 1 - value / top * (height - 14):.1f}" for t, value in points
    )
    return format_html(
        '<svg class="plot" width="{}" height="{}" role="img" aria-label="latest {}, highest {}">'
        '<polyline fill="none" stroke="currentColor" stroke-width="1.5" points="{}"/>'
        '<text x="4" y="11">latest {} · max {}</text></svg>',
        width, height, points[-1][1], top, coordinates, points[-1][1], top,
    )  # fmt: skip


FRESHNESS_LABEL_WIDTH = 230  # room for "hyperliquid/BTC/USD/perps/15m" left of the bars


def freshness_bars(starlistings, width=PLOT_WIDTH):
    """One labelled bar per starlisting: time since its newest candle opened, in intervals (0..3, capped)."""
    rows = []
    for index, item in enumerate(starlistings):
        age = 3.0 if item.get("age_intervals") is None else min(3.0, item["age_intervals"])
        rows.append(
            format_html(
                '<text x="0" y="{}">{}</text>'
                '<rect class="bar state-{}" x="{}" y="{}" width="{}" height="10"><title>{}: {}</title></rect>',
                index * 14 + 9,
                item["name"],
                item["state"],
                FRESHNESS_LABEL_WIDTH,
                index * 14,
                f"{max(1.0, age / 3 * width):.1f}",
                item["name"],
                item["reason"],
            )  # fmt: skip
        )
    height = max(14, len(starlistings) * 14)
    return format_html(
        '<svg class="plot" width="{}" height="{}" role="img" aria-label="freshness">{}</svg>',
        FRESHNESS_LABEL_WIDTH + width, height, mark_safe("".join(rows)),
    )  # fmt: skip


@staff_member_required
def dashboard(request):
    document = build_status()
    context = {
        "status": document,
        "refresh_seconds": f"{settings.KIRBY_DASHBOARD_REFRESH_SECONDS:g}",
        "ingest_plot": sparkline(document["history"]["ingest_rate"]),
        "ws_plot": sparkline(document["history"]["ws_connections"]),
        "freshness_plot": freshness_bars(document["starlistings"]["items"]),
    }
    return render(request, "operations/dashboard.html", context)


def dashboard_data(request):
    """The status document for the page's script: staff session only (403 otherwise, no login redirect)."""
    user = request.user
    if not (user.is_authenticated and user.is_active and user.is_staff):
        return json_response({"detail": "Staff login required"}, status=403)
    return json_response(build_status())


mark(dashboard, EXEMPT)  # no API key: the Django login protects it
mark(dashboard_data, EXEMPT)
