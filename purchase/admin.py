"""Django admin for purchases: read-only, cancelled through the same service as the API;
and the sales overview."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from catalog.selectors import vod_list
from purchase import services
from purchase.models import IdempotencyKey, Purchase, WatchProgress
from purchase.sales import OVERVIEW_DAYS, sales_chart, sales_overview
from vodstore.admin_lists import LongListAdmin, as_id, user_ids_named
from vodstore.admin_tools import ReadOnlyAdminMixin, paid_amount
from vodstore.errors import DomainError

FILMS_SEARCHED = 1000  # films whose title matches, at most, in a search of purchases


class WatchProgressInline(ReadOnlyAdminMixin, admin.StackedInline):
    """How far the owner got (the refund rule reads `furthest_seconds`)."""

    model = WatchProgress
    fields = ["position_seconds", "furthest_seconds", "duration_seconds", "updated_at"]
    readonly_fields = fields


@admin.register(Purchase)
class PurchaseAdmin(LongListAdmin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["id", "vod_title", "user", "status", "payment_method", "paid", "created_at"]
    # what an index sorts: newest first (Meta.ordering, `purchase_recent`), or by number
    sortable_by = ["id", "created_at"]
    list_filter = ["status", "payment_method", "created_at"]
    search_fields = ["=id"]  # shows the search box; get_search_results decides
    search_help_text = _("A purchase number, a buyer's exact username, or part of a film's title.")
    list_select_related = ["user"]
    fields = [
        "vod_title",
        "vod_id",
        "user",
        "status",
        "payment_method",
        "paid",
        "created_at",
        "cancelled_at",
    ]
    readonly_fields = ["paid"]
    actions = ["cancel_purchases"]
    inlines = [WatchProgressInline]
    change_list_template = "admin/purchase/purchase/change_list.html"

    def get_queryset(self, request):
        # the change page's title names the buyer ("Alive! for alice (paid)")
        return super().get_queryset(request).select_related("user")

    def search_matches(self, term: str) -> Q:
        """The purchase with that number, the buyer with exactly that username, the
        films whose title contains the words (the catalog's title index): each one
        indexed lookup, instead of `icontains` over every purchase."""
        films = vod_list(search=term, off_sale_too=True).order_by()
        matches = Q(user_id__in=user_ids_named(term))
        matches |= Q(vod_id__in=list(films.values_list("id", flat=True)[:FILMS_SEARCHED]))
        if (purchase_id := as_id(term)) is not None:
            matches |= Q(pk=purchase_id)
        return matches

    @admin.display(description=_("paid"), ordering="amount")
    def paid(self, obj: Purchase) -> str:
        return paid_amount(obj.amount, obj.payment_method)

    def get_urls(self):
        sales = self.admin_site.admin_view(self.sales_view)
        return [path("sales/", sales, name="purchase_sales"), *super().get_urls()]

    def sales_view(self, request):
        """Purchases, card revenue, refunds and points per day over the last 30 days,
        for staff who may see purchases."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        overview = sales_overview()
        context = {
            **self.admin_site.each_context(request),
            "title": _("Sales overview"),
            "opts": self.model._meta,
            "overview": overview,
            "newest_first": overview.days[::-1],
            "chart": sales_chart(overview),
            "span_days": OVERVIEW_DAYS,
            "time_zone": timezone.get_default_timezone_name(),
        }
        return TemplateResponse(request, "admin/purchase/sales.html", context)

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
