"""Rows the write path set aside (read-only: an operator reads the reason and fixes the source); retention policies."""

from django.contrib import admin

from apps.marketdata import retention
from apps.marketdata.models import DeadLetter, RetentionPolicy


@admin.register(DeadLetter)
class DeadLetterAdmin(admin.ModelAdmin):
    list_display = ["time", "record_type", "exchange", "reason"]
    list_filter = ["record_type", "exchange"]
    search_fields = ["reason", "payload"]
    date_hierarchy = "time"
    readonly_fields = ["time", "record_type", "exchange", "payload", "reason"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(RetentionPolicy)
class RetentionPolicyAdmin(admin.ModelAdmin):
    """Operators set ``keep_days`` (empty: forever); the rest is what the daily enforcement last did."""

    list_display = ["name", "keep_days", "last_run_at", "last_rows_freed", "last_bytes_freed", "last_error"]
    fields = ["name", "keep_days", "last_run_at", "last_rows_freed", "last_bytes_freed", "last_partitions_dropped",
              "last_error"]  # fmt: skip
    readonly_fields = ["name", "last_run_at", "last_rows_freed", "last_bytes_freed", "last_partitions_dropped",
                       "last_error"]  # fmt: skip

    def get_queryset(self, request):
        retention.policies()  # every policy is listed, with its default, before its first run
        return super().get_queryset(request)

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
