"""Django admin for the event outbox: what was published, what is stuck, retry now."""

from django.contrib import admin, messages

from vodstore import events
from vodstore.models import EventDelivery, OutboxEvent


class EventDeliveryInline(admin.TabularInline):
    model = EventDelivery
    fields = ["handler", "delivered_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(OutboxEvent)
class OutboxEventAdmin(admin.ModelAdmin):
    list_display = ["type", "status", "attempts", "occurred_at", "next_attempt_at", "id"]
    list_filter = ["status", "type"]
    search_fields = ["=id", "type"]
    readonly_fields = [f.name for f in OutboxEvent._meta.fields]
    inlines = [EventDeliveryInline]
    actions = ["retry_now"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Retry now (deliver to the handlers that have not had it)")
    def retry_now(self, request, queryset):
        delivered = events.retry_now(queryset.values_list("id", flat=True))
        self.message_user(
            request, f"{delivered} of {queryset.count()} event(s) fully delivered.", messages.INFO
        )
