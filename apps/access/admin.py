"""API keys in the Django admin: create (secret shown once), revoke, rotate, usage per key."""

from django.contrib import admin
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from rest_framework_api_key.models import APIKey

from apps.access import keys, usage
from apps.access.models import ApiKey, ApiKeyUsage

# djangorestframework-api-key registers its own concrete model, which Kirby does not use.
admin.site.unregister(APIKey)


def _secret_page(modeladmin, request, shown):
    """The page that shows new secrets: in this response only, never in a message (a cookie) or the session."""
    response = TemplateResponse(
        request,
        "admin/access/apikey/secret_shown.html",
        {
            **modeladmin.admin_site.each_context(request),
            "shown": shown,
            "back": reverse("admin:access_apikey_changelist"),
            "opts": modeladmin.model._meta,
            "title": "New API key secret",
        },
    )
    return response


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "owner",
        "key_prefix",
        "legacy",
        "scope_list",
        "active",
        "revoked",
        "expiry_date",
        "rate_limit",
        "unlimited",
        "last_used_at",
        "created",
    )
    list_filter = ("active", "revoked", "unlimited")
    search_fields = ("name", "prefix", "owner__username", "owner__email")
    list_select_related = ("owner",)
    autocomplete_fields = ("owner",)
    actions = ("revoke_keys", "rotate_keys")
    fields = ("name", "owner", "scopes", "active", "rate_limit", "unlimited", "expiry_date")
    readonly_on_change = (
        "key_prefix",
        "legacy",
        "created",
        "last_used_at",
        "revoked",
        "revoked_at",
        "replaced_by",
        "usage",
    )

    def get_fields(self, request, obj=None):
        return self.fields if obj is None else self.fields + self.readonly_on_change

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.readonly_on_change

    @admin.display(description="Key")
    def key_prefix(self, key):
        return f"{key.display_prefix}..."

    @admin.display(description="Kirby 1.x key", boolean=True)
    def legacy(self, key):
        """Imported by import_v1 and accepted as it is; rotate it for a key of Kirby's format."""
        return key.legacy

    @admin.display(description="Scopes")
    def scope_list(self, key):
        return ", ".join(key.scopes)

    @admin.display(description="Usage")
    def usage(self, key):
        found = usage.summary(key, recent=10)
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{} {}</td><td>{}</td><td>{} ms</td></tr>",
            ((u["time"], u["method"], u["endpoint"], u["status"], f"{u['latency_ms']:.1f}") for u in found["recent"]),
        )
        return format_html(
            "<p>{} requests ({} errors) kept; last day {} ({} errors); last week {} ({} errors).</p>"
            "<table><tr><th>Time (UTC)</th><th>Request</th><th>Status</th><th>Latency</th></tr>{}</table>",
            found["requests"],
            found["errors"],
            found["last_day"]["requests"],
            found["last_day"]["errors"],
            found["last_week"]["requests"],
            found["last_week"]["errors"],
            rows,
        )

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        secret = ApiKey.objects.assign_key(obj)
        obj.save()
        request.kirby_new_secret = {"verb": "Created", "key": obj, "secret": secret}

    def response_add(self, request, obj, post_url_continue=None):
        shown = getattr(request, "kirby_new_secret", None)
        if shown is None:
            return super().response_add(request, obj, post_url_continue)
        return _secret_page(self, request, [shown])

    @admin.action(description="Revoke the selected keys (for good)")
    def revoke_keys(self, request, queryset):
        for key in queryset:
            key.revoke()
        self.message_user(request, f"Revoked {queryset.count()} key(s).")

    @admin.action(description="Rotate the selected keys (new secret; the old one is revoked)")
    def rotate_keys(self, request, queryset):
        shown = []
        for key in queryset.filter(revoked=False).select_related("owner"):
            new, secret = keys.rotate(key)
            shown.append({"verb": "Rotated", "key": new, "secret": secret})
        if shown:
            return _secret_page(self, request, shown)


@admin.register(ApiKeyUsage)
class ApiKeyUsageAdmin(admin.ModelAdmin):
    list_display = ("time", "api_key", "method", "endpoint", "status", "latency_ms", "client_ip")
    list_filter = ("method", "status")
    search_fields = ("endpoint", "api_key__name", "api_key__prefix", "client_ip")
    list_select_related = ("api_key",)
    date_hierarchy = "time"
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
