"""Django admin for purchases: read-only, cancelled through the same service as the API."""

from django.contrib import admin, messages

from purchase import services
from purchase.models import IdempotencyKey, Purchase, WatchProgress
from vodstore.admin_tools import ReadOnlyAdminMixin
from vodstore.errors import DomainError


class WatchProgressInline(ReadOnlyAdminMixin, admin.StackedInline):
    """How far the owner got (the refund rule reads `furthest_seconds`)."""

    model = WatchProgress
    fields = ["position_seconds", "furthest_seconds", "duration_seconds", "updated_at"]
    readonly_fields = fields


@admin.register(Purchase)
class PurchaseAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["id", "vod_title", "user", "status", "payment_method", "amount", "created_at"]
    list_filter = ["status", "payment_method", "created_at"]
    search_fields = ["vod_title", "user__username", "=id"]
    list_select_related = ["user"]
    actions = ["cancel_purchases"]
    inlines = [WatchProgressInline]

    @admin.action(
        description="Cancel the selected purchases (refund and reverse points; also past "
        "the refund window or the watched threshold)"
    )
    def cancel_purchases(self, request, queryset):
        done = 0
        for purchase in queryset:
            try:
                services.purchase_cancel(
                    user_id=request.user.id, purchase_id=purchase.id, as_staff=True
                )
                done += 1
            except DomainError as exc:
                self.message_user(request, f"#{purchase.id}: {exc.detail}", messages.WARNING)
        self.message_user(request, f"Cancelled {done} purchase(s).", messages.SUCCESS)

    def get_actions(self, request):
        # the action changes state: it needs the change permission, not only "view"
        actions = super().get_actions(request)
        if not request.user.has_perm("purchase.change_purchase"):
            actions.pop("cancel_purchases", None)
        return actions


@admin.register(IdempotencyKey)
class IdempotencyKeyAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["key", "user", "purchase_id", "response_status", "created_at"]
    search_fields = ["key", "user__username"]
    list_select_related = ["user"]
