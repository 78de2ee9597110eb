from django.urls import re_path

from apps.marketdata.api.export_jobs import ExportDownloadView, ExportJobsView, ExportJobView
from apps.marketdata.api.export_views import ExportView, PairExportView
from apps.marketdata.api.tick_views import OrderBookHistoryView, OrderBookView, TradesView
from apps.marketdata.api.views import CandlesView, FundingView, OpenInterestView

_SEGMENT = r"(?P<{}>[^/]+)"
_PAIR = "/".join(_SEGMENT.format(name) for name in ("exchange", "coin", "quote", "market_type"))

_JOB = r"(?P<job_id>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"

urlpatterns = [
    re_path(rf"^candles/{_PAIR}/{_SEGMENT.format('interval')}/?$", CandlesView.as_view(), name="candles"),
    re_path(rf"^funding/{_PAIR}/?$", FundingView.as_view(), name="funding"),
    re_path(rf"^open-interest/{_PAIR}/?$", OpenInterestView.as_view(), name="open-interest"),
    re_path(rf"^trades/{_PAIR}/?$", TradesView.as_view(), name="trades"),
    re_path(rf"^orderbook/{_PAIR}/?$", OrderBookView.as_view(), name="orderbook"),
    re_path(rf"^orderbook/{_PAIR}/history/?$", OrderBookHistoryView.as_view(), name="orderbook-history"),
    re_path(rf"^export/{_SEGMENT.format('export_type')}/{_PAIR}/?$", PairExportView.as_view(), name="export-pair"),
    re_path(
        rf"^export/{_SEGMENT.format('export_type')}/{_PAIR}/{_SEGMENT.format('interval')}/?$",
        ExportView.as_view(),
        name="export",
    ),
    re_path(r"^exports/?$", ExportJobsView.as_view(), name="export-jobs"),
    re_path(rf"^exports/{_JOB}/?$", ExportJobView.as_view(), name="export-job"),
    re_path(rf"^exports/{_JOB}/files/(?P<name>[^/]+)$", ExportDownloadView.as_view(), name="export-file"),
]
