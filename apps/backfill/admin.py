"""Admin: the job list with progress, the gap ledger, and backfill actions for starlistings and pairs.

The actions are added to the markets app's own Starlisting and TradingPair
admins from here (markets knows nothing of backfill).
"""

from django.contrib import admin, messages
from django.utils.html import format_html

from apps.backfill import jobs
from apps.backfill.models import BackfillJob, Gap
from apps.markets import admin as _markets_admin  # noqa: F401 (registers the admins extended below)
from apps.markets.models import Starlisting, TradingPair


def _queue(modeladmin, request, jobs_to_create):
    start, end = jobs.default_window()
    created = [jobs.create_job(kind, start=start, end=end, source=BackfillJob.Source.ADMIN, **ids)
               for kind, ids in jobs_to_create]  # fmt: skip
    modeladmin.message_user(request, f"Queued {len(created)} backfill job(s).", messages.SUCCESS)


@admin.action(description="Backfill candle history (KIRBY_BACKFILL_DAYS)")
def backfill_candles(modeladmin, request, queryset):
    _queue(modeladmin, request, [("candles", {"starlisting_id": s.id}) for s in queryset])


@admin.action(description="Backfill funding history (KIRBY_BACKFILL_DAYS)")
def backfill_funding(modeladmin, request, queryset):
    _queue(modeladmin, request, [("funding", {"trading_pair_id": p.id}) for p in queryset])


@admin.action(description="Cancel selected jobs")
def cancel_jobs(modeladmin, request, queryset):
    count = sum(jobs.cancel(job) for job in queryset)
    modeladmin.message_user(request, f"Cancelled {count}.", messages.SUCCESS)


@admin.register(BackfillJob)
class BackfillJobAdmin(admin.ModelAdmin):
    list_display = ["id", "data_type", "series", "start_time", "end_time", "status", "progress_bar", "rows_written",
                    "attempts", "rate_limited", "available_from", "source", "created_at"]  # fmt: skip
    list_filter = ["status", "data_type", "source", "trading_pair__exchange"]
    search_fields = ["trading_pair__coin__symbol"]
    list_select_related = ["trading_pair__exchange", "trading_pair__coin", "trading_pair__quote",
                           "trading_pair__market_type", "starlisting__interval"]  # fmt: skip
    readonly_fields = [f.name for f in BackfillJob._meta.fields]
    actions = [cancel_jobs]

    def has_add_permission(self, request):
        return False  # jobs are started from starlistings, pairs, the API or the command line

    @admin.display(description="series")
    def series(self, job):
        path = job.trading_pair.path
        return f"{path}/{job.starlisting.interval.name}" if job.starlisting_id else path

    @admin.display(description="progress")
    def progress_bar(self, job):
        return format_html('<progress value="{}" max="100"></progress> {}%', job.progress * 100, job.progress * 100)


@admin.register(Gap)
class GapAdmin(admin.ModelAdmin):
    list_display = ["id", "data_type", "trading_pair", "starlisting", "start_time", "end_time", "missing", "reason",
                    "status", "found_at", "repaired_at"]  # fmt: skip
    list_filter = ["status", "reason", "data_type", "trading_pair__exchange"]
    search_fields = ["trading_pair__coin__symbol", "detail"]
    list_select_related = ["trading_pair__exchange", "trading_pair__coin", "trading_pair__quote",
                           "trading_pair__market_type", "starlisting__interval", "starlisting__trading_pair__exchange",
                           "starlisting__trading_pair__coin", "starlisting__trading_pair__quote",
                           "starlisting__trading_pair__market_type"]  # fmt: skip
    readonly_fields = [f.name for f in Gap._meta.fields]

    def has_add_permission(self, request):
        return False


def _add_actions(model, *actions):
    model_admin = admin.site.get_model_admin(model)
    model_admin.actions = [*model_admin.actions, *actions]


_add_actions(Starlisting, backfill_candles)
_add_actions(TradingPair, backfill_funding)
