"""Django admin for mileage: accounts with their read-only, append-only ledger."""

from django.contrib import admin

from mileage.models import MileageAccount, MileageEntry
from vodstore.admin_tools import ReadOnlyAdminMixin


class MileageEntryInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = MileageEntry
    fields = ["created_at", "delta", "reason", "purchase_id", "event_id"]
    readonly_fields = fields
    ordering = ["-created_at"]
    extra = 0


@admin.register(MileageAccount)
class MileageAccountAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["user", "balance", "updated_at"]
    search_fields = ["user__username"]
    list_select_related = ["user"]
    inlines = [MileageEntryInline]


@admin.register(MileageEntry)
class MileageEntryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["id", "account", "delta", "reason", "purchase_id", "created_at"]
    list_filter = ["reason", "created_at"]
    search_fields = ["=purchase_id", "account__user__username", "=event_id"]
    list_select_related = ["account__user"]
