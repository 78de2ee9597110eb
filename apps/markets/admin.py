from django.contrib import admin, messages

from apps.markets.models import Coin, Exchange, Interval, MarketType, QuoteCurrency, Starlisting, TradingPair
from apps.markets.signals import reference_data_changed, series_created


@admin.action(description="Activate selected")
def activate(modeladmin, request, queryset):
    count = queryset.update(active=True)
    reference_data_changed.send(sender=queryset.model)
    modeladmin.message_user(request, f"Activated {count}.", messages.SUCCESS)


@admin.action(description="Deactivate selected")
def deactivate(modeladmin, request, queryset):
    count = queryset.update(active=False)
    reference_data_changed.send(sender=queryset.model)
    modeladmin.message_user(request, f"Deactivated {count}.", messages.SUCCESS)


class ActivatableAdmin(admin.ModelAdmin):
    actions = [activate, deactivate]
    list_filter = ["active"]


class SeriesAdmin(ActivatableAdmin):
    """Starlistings and trading pairs added here get their history backfilled (``series_created``)."""

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if not change:
            key = "starlisting_ids" if isinstance(obj, Starlisting) else "trading_pair_ids"
            series_created.send(sender=type(obj), **{key: [obj.id]})

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        added = [o.id for formset in formsets for o in formset.new_objects if isinstance(o, Starlisting)]
        if added:
            series_created.send(sender=Starlisting, starlisting_ids=added)


@admin.register(Exchange)
class ExchangeAdmin(ActivatableAdmin):
    list_display = ["name", "display_name", "active"]
    search_fields = ["name", "display_name"]


@admin.register(Coin)
class CoinAdmin(ActivatableAdmin):
    list_display = ["symbol", "name", "active"]
    search_fields = ["symbol", "name"]


@admin.register(QuoteCurrency)
class QuoteCurrencyAdmin(ActivatableAdmin):
    list_display = ["symbol", "name", "active"]
    search_fields = ["symbol", "name"]


@admin.register(MarketType)
class MarketTypeAdmin(ActivatableAdmin):
    list_display = ["name", "display_name", "active"]
    search_fields = ["name", "display_name"]


@admin.register(Interval)
class IntervalAdmin(ActivatableAdmin):
    list_display = ["name", "seconds", "active"]
    search_fields = ["name"]


class StarlistingInline(admin.TabularInline):
    model = Starlisting
    extra = 0
    fields = ["interval", "active", "created_at"]
    readonly_fields = ["created_at"]


@admin.register(TradingPair)
class TradingPairAdmin(SeriesAdmin):
    list_display = ["id", "exchange", "coin", "quote", "market_type", "active", "collect_trades", "collect_orderbook"]
    list_filter = ["active", "collect_trades", "collect_orderbook", "exchange", "market_type", "quote"]
    search_fields = ["coin__symbol", "coin__name", "quote__symbol", "exchange__name"]
    list_select_related = ["exchange", "coin", "quote", "market_type"]
    inlines = [StarlistingInline]


@admin.register(Starlisting)
class StarlistingAdmin(SeriesAdmin):
    list_display = ["id", "__str__", "interval", "active", "created_at"]
    list_filter = ["active", "trading_pair__exchange", "trading_pair__market_type", "interval"]
    search_fields = ["trading_pair__coin__symbol", "trading_pair__quote__symbol", "trading_pair__exchange__name"]
    list_select_related = [
        "trading_pair__exchange",
        "trading_pair__coin",
        "trading_pair__quote",
        "trading_pair__market_type",
        "interval",
    ]
    autocomplete_fields = ["trading_pair"]
