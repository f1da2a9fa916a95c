"""Django admin for payments: read-only (payments change only through the services)."""

from django.contrib import admin

from payment.models import Payment


@admin.register(Payment)
class PaymentAdmin(admin.ModelAdmin):
    list_display = ["id", "purchase_id", "user", "method", "amount", "status", "approved_at"]
    list_filter = ["status", "method", "approved_at"]
    search_fields = ["=purchase_id", "gateway_reference", "user__username"]
    list_select_related = ["user"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
