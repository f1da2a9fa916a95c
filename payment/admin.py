"""Django admin for payments: read-only payments and gateway operations, and the payment
guard's state."""

from django.conf import settings
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.urls import path

from payment.guard import get_guard
from payment.models import Operation, Payment
from vodstore.admin_tools import ReadOnlyAdminMixin


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "purchase_id",
        "user",
        "method",
        "amount",
        "status",
        "gateway",
        "approved_at",
    ]
    list_filter = ["status", "method", "approved_at"]
    search_fields = ["=purchase_id", "gateway_reference", "user__username"]
    list_select_related = ["user"]
    raw_id_fields = ["authorization"]
    change_list_template = "admin/payment/payment/change_list.html"

    def get_urls(self):
        guard_view = self.admin_site.admin_view(self.guard_view)
        return [path("guard/", guard_view, name="payment_guard"), *super().get_urls()]

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "guard": get_guard().status()}
        return super().changelist_view(request, extra_context)

    def guard_view(self, request):
        """The payment guard's state, its window and its settings: for staff who may
        see payments, like the payments list it belongs to."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "title": "Payment guard",
            "opts": self.model._meta,
            "guard": get_guard().status(),
            "guard_settings": sorted(settings.PAYMENT_GUARD.items()),
        }
        return TemplateResponse(request, "admin/payment/guard.html", context)


@admin.register(Operation)
class OperationAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Every call the store asked the gateway to make, with its answer. Operations
    left pending are in doubt: the reconciler (in the outbox worker, or
    `manage.py payments_reconcile`) finishes them."""

    list_display = [
        "id",
        "kind",
        "state",
        "amount",
        "user",
        "purchase_id",
        "reference",
        "attempts",
        "created_at",
    ]
    list_filter = ["kind", "state", "gateway"]
    search_fields = ["=purchase_id", "=key", "reference", "user__username"]
    list_select_related = ["user"]
    raw_id_fields = ["authorization", "user"]
