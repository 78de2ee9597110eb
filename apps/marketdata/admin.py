"""Rows the write path set aside, read-only: an operator reads the reason and fixes the source."""

from django.contrib import admin

from apps.marketdata.models import DeadLetter


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
