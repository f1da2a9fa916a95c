"""Django admin for the event outbox: what was published, what is stuck, retry now; and
the admin site's name."""

from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _

from vodstore import events
from vodstore.models import EventDelivery, GroupRetry, OutboxEvent

admin.site.site_header = _("VOD Store administration")
admin.site.site_title = _("VOD Store admin")
admin.site.index_title = _("Store administration")


class EventDeliveryInline(admin.TabularInline):
    model = EventDelivery
    fields = ["handler", "delivered_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


class GroupRetryInline(admin.TabularInline):
    """Broker mode: an app whose handlers failed on this event, and its retries."""

    model = GroupRetry
    fields = ["group", "status", "attempts", "next_attempt_at", "last_error"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(GroupRetry)
class GroupRetryAdmin(admin.ModelAdmin):
    """Broker mode: the apps whose handlers failed, event by event; "Retry now" sends
    the event back to that app's queue at the relay's next pass."""

    list_display = ["group", "status", "attempts", "next_attempt_at", "event"]
    list_filter = ["status", "group"]
    readonly_fields = [f.name for f in GroupRetry._meta.fields]
    actions = ["retry_now"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Retry now (the relay sends the event to this app again)")
    def retry_now(self, request, queryset):
        queued = events.retry_now(queryset.values_list("event_id", flat=True))
        self.message_user(request, f"{queued} retry(ies) put back in line.", messages.INFO)


@admin.register(OutboxEvent)
class OutboxEventAdmin(admin.ModelAdmin):
    list_display = ["type", "status", "attempts", "occurred_at", "next_attempt_at", "id"]
    list_filter = ["status", "type"]
    search_fields = ["=id", "type"]
    readonly_fields = [f.name for f in OutboxEvent._meta.fields]
    inlines = [EventDeliveryInline, GroupRetryInline]
    actions = ["retry_now"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Retry now (deliver to the handlers that have not had it)")
    def retry_now(self, request, queryset):
        done = events.retry_now(queryset.values_list("id", flat=True))
        if events.broker_mode():
            message = f"{done} event(s) or app retries put back in line for the relay."
        else:
            message = f"{done} of {queryset.count()} event(s) fully delivered."
        self.message_user(request, message, messages.INFO)
