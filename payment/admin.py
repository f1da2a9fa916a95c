"""Django admin for payments: read-only payments and gateway operations, and the payment
guard's state."""

from django.conf import settings
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from payment.guard import get_guard
from payment.models import Operation, Payment
from vodstore.admin_lists import LongListAdmin, as_id, user_ids_named
from vodstore.admin_tools import ReadOnlyAdminMixin, paid_amount, won_amount


class PurchaseLink:
    """The purchase a payment or operation serves, linked to its admin page by URL (the
    payment app never imports purchase)."""

    @admin.display(description=_("purchase"), ordering="purchase_id")
    def purchase(self, obj: Payment | Operation) -> str:
        if obj.purchase_id is None:
            return "-"
        url = reverse("admin:purchase_purchase_change", args=[obj.purchase_id])
        return format_html('<a href="{}">#{}</a>', url, obj.purchase_id)


def exact_matches(term: str, *fields: str) -> Q:
    """A payment or an operation found by what the term can be: a purchase's number, a
    buyer's exact username, or exactly the value of one of `fields` (the gateway's
    reference, an operation's key): each an indexed lookup, instead of `icontains` over
    every row."""
    matches = Q(user_id__in=user_ids_named(term))
    for field in fields:
        matches |= Q(**{field: term})
    if (purchase_id := as_id(term)) is not None:
        matches |= Q(purchase_id=purchase_id)
    return matches


@admin.register(Payment)
class PaymentAdmin(LongListAdmin, PurchaseLink, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "purchase",
        "user",
        "method",
        "paid",
        "status",
        "gateway",
        "approved_at",
    ]
    # what an index sorts: newest first (Meta.ordering, `payment_recent`), by number,
    # by purchase (unique)
    sortable_by = ["id", "purchase", "approved_at"]
    list_filter = ["status", "method", "approved_at"]
    search_fields = ["=purchase_id"]  # shows the search box; get_search_results decides
    search_help_text = _(
        "A purchase number, the gateway's reference (exactly), or a buyer's exact username."
    )
    list_select_related = ["user"]
    fields = [
        "purchase",
        "user",
        "method",
        "paid",
        "status",
        "gateway",
        "gateway_reference",
        "authorization",
        "approved_at",
        "cancelled_at",
    ]
    readonly_fields = ["purchase", "paid"]
    raw_id_fields = ["authorization"]
    change_list_template = "admin/payment/payment/change_list.html"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user")

    def search_matches(self, term: str) -> Q:
        return exact_matches(term, "gateway_reference")

    @admin.display(description=_("amount"), ordering="amount")
    def paid(self, obj: Payment) -> str:
        return paid_amount(obj.amount, obj.method)

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
class OperationAdmin(LongListAdmin, PurchaseLink, ReadOnlyAdminMixin, admin.ModelAdmin):
    """Every call the store asked the gateway to make, with its answer. Operations
    left pending are in doubt: the reconciler (in the outbox worker, or
    `manage.py payments_reconcile`) finishes them."""

    list_display = [
        "id",
        "kind",
        "state",
        "amount_won",
        "user",
        "purchase",
        "reference",
        "attempts",
        "created_at",
    ]
    # what an index sorts: newest first (Meta.ordering, `payment_op_recent`), by number
    sortable_by = ["id", "created_at"]
    # No filter by gateway: its choices were a SELECT DISTINCT over every operation, and
    # the few operations of an adapter no longer used could only be found by reading
    # them all (the column shows it). Kind and state: `payment_op_unusual` finds the
    # rare ones (voids, refunds, pending, failed); the common ones are most rows.
    list_filter = ["kind", "state"]
    search_fields = ["=key"]  # shows the search box; get_search_results decides
    search_help_text = _(
        "A purchase number, the gateway's reference or the operation's key (exactly), "
        "or a buyer's exact username."
    )
    list_select_related = ["user"]
    fields = [
        "kind",
        "state",
        "key",
        "gateway",
        "amount_won",
        "user",
        "reference",
        "authorization",
        "request_key",
        "purchase",
        "released_at",
        "attempts",
        "last_error",
        "created_at",
        "updated_at",
    ]
    readonly_fields = ["amount_won", "purchase", "key", "created_at", "updated_at"]
    raw_id_fields = ["authorization", "user"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user")

    def search_matches(self, term: str) -> Q:
        return exact_matches(term, "reference", "key")

    @admin.display(description=_("amount"), ordering="amount")
    def amount_won(self, obj: Operation) -> str:
        return won_amount(obj.amount)
