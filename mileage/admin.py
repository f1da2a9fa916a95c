"""Django admin for mileage: accounts with their read-only, append-only ledger."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from mileage.models import MileageAccount, MileageEntry
from vodstore.admin_tools import ReadOnlyAdminMixin, points_amount


class Points:
    """Balances and ledger changes written as points ("+1,000 points")."""

    @admin.display(description=_("change"), ordering="delta")
    def change(self, obj: MileageEntry) -> str:
        return points_amount(obj.delta, signed=True)

    @admin.display(description=_("balance"), ordering="balance")
    def points(self, obj: MileageAccount) -> str:
        return points_amount(obj.balance)


class MileageEntryInline(Points, ReadOnlyAdminMixin, admin.TabularInline):
    model = MileageEntry
    fields = ["created_at", "change", "reason", "purchase_id", "event_id"]
    readonly_fields = fields
    ordering = ["-created_at"]
    extra = 0


@admin.register(MileageAccount)
class MileageAccountAdmin(Points, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["user", "points", "updated_at"]
    search_fields = ["user__username"]
    list_select_related = ["user"]
    fields = ["user", "points", "updated_at"]
    readonly_fields = ["points"]
    inlines = [MileageEntryInline]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user")


@admin.register(MileageEntry)
class MileageEntryAdmin(Points, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["id", "user", "change", "reason", "purchase_id", "created_at"]
    list_filter = ["reason", "created_at"]
    search_fields = ["=purchase_id", "account__user__username", "=event_id"]
    list_select_related = ["account__user"]
    fields = ["user", "change", "reason", "purchase_id", "event_id", "created_at"]
    readonly_fields = ["user", "change"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("account__user")

    @admin.display(description=_("user"), ordering="account__user__username")
    def user(self, obj: MileageEntry) -> str:
        return obj.account.user.get_username()
