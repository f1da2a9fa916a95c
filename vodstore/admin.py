"""Django admin for the event outbox: what was published, what is stuck, retry now; and
the admin site's name."""

from django.contrib import admin, messages
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from vodstore import events, wiring
from vodstore.admin_lists import KnownChoicesFilter, LongListAdmin, as_uuid
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


def event_types() -> dict[str, str]:
    """The event catalogue's types, by their name in lower case."""
    return {entry.type.lower(): entry.type for entry in wiring.CATALOGUE}


class EventTypeFilter(KnownChoicesFilter):
    """The event catalogue's types, not a `SELECT DISTINCT type` over every event."""

    title = _("type")
    parameter_name = "type"
    field = "type"

    def choices_known(self) -> list[tuple[str, str]]:
        return [(name, name) for name in sorted(event_types().values())]


class GroupFilter(KnownChoicesFilter):
    """The apps that consume events (one broker queue each), from the event catalogue."""

    title = _("group")
    parameter_name = "group"
    field = "group"

    def choices_known(self) -> list[tuple[str, str]]:
        return [(group, group) for group in wiring.routes()]


@admin.register(GroupRetry)
class GroupRetryAdmin(LongListAdmin, admin.ModelAdmin):
    """Broker mode: the apps whose handlers failed, event by event; "Retry now" sends
    the event back to that app's queue at the relay's next pass."""

    list_display = ["group", "status", "attempts", "next_attempt_at", "event"]
    sortable_by = []  # newest first (the primary key); a failure's list, not history
    list_filter = ["status", GroupFilter]
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
class OutboxEventAdmin(LongListAdmin, admin.ModelAdmin):
    list_display = ["type", "status", "attempts", "occurred_at", "next_attempt_at", "id"]
    # what an index sorts: newest first (Meta.ordering), by type (`outbox_type`), by id
    sortable_by = ["type", "occurred_at", "id"]
    list_filter = ["status", EventTypeFilter]
    search_fields = ["=id"]  # shows the search box; get_search_results decides
    search_help_text = _("An event's id, or an event type's name (VodPurchased, ...).")
    readonly_fields = [f.name for f in OutboxEvent._meta.fields]
    inlines = [EventDeliveryInline, GroupRetryInline]
    actions = ["retry_now"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def search_matches(self, term: str) -> Q:
        """An event by its id, or the events of a type of the catalogue (any case):
        each an indexed lookup, instead of `icontains` over every event."""
        if (event_id := as_uuid(term)) is not None:
            return Q(pk=event_id)
        event_type = event_types().get(term.lower())
        return Q(type=event_type) if event_type else Q(pk__in=[])  # no such type: nothing

    @admin.action(description="Retry now (deliver to the handlers that have not had it)")
    def retry_now(self, request, queryset):
        done = events.retry_now(queryset.values_list("id", flat=True))
        if events.broker_mode():
            message = f"{done} event(s) or app retries put back in line for the relay."
        else:
            message = f"{done} of {queryset.count()} event(s) fully delivered."
        self.message_user(request, message, messages.INFO)
