"""The transactional outbox: every published event, and which handler has had it; and
the storefront's sessions."""

import uuid

from django.conf import settings
from django.contrib.sessions.base_session import AbstractBaseSession
from django.db import models


class OutboxEvent(models.Model):
    """An event, written in the transaction of the change that caused it."""

    class Status(models.TextChoices):
        PENDING = "pending", "pending"
        DELIVERED = "delivered", "delivered"
        FAILED = "failed", "failed (gave up retrying)"
        # broker mode: confirmed by the broker; each app's consumers take it from there
        PUBLISHED = "published", "published to the broker"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    type = models.CharField(max_length=100)
    payload = models.JSONField()
    occurred_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    # When a worker may next try it: a grace period after commit (the publishing
    # process delivers it first), a lease while a worker holds it, then backoff.
    next_attempt_at = models.DateTimeField()
    last_error = models.TextField(blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    published_at = models.DateTimeField(null=True, blank=True)
    # The publishing request's trace context (W3C traceparent), so that the relay and
    # each consumer continue its trace.
    trace_context = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-occurred_at"]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=models.Q(status="pending"),
                name="outbox_due",
            ),
            models.Index(fields=["type", "-occurred_at"], name="outbox_type"),
            # admin: the list newest first; the pending and failed events (its filter,
            # /metrics' outbox_events) without reading the delivered millions
            models.Index(fields=["-occurred_at", "-id"], name="outbox_recent"),
            models.Index(
                fields=["status", "-occurred_at", "-id"],
                condition=models.Q(status__in=["pending", "failed"]),
                name="outbox_unfinished",
            ),
            # Retention (vodstore.retention) takes the oldest finished events first,
            # a batch at a time: these keep that a short index scan however big the
            # table, and hold nothing of the events still in flight.
            models.Index(
                fields=["delivered_at"],
                condition=models.Q(status="delivered"),
                name="outbox_delivered_age",
            ),
            models.Index(
                fields=["published_at"],
                condition=models.Q(status="published"),
                name="outbox_published_age",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.id}"


class EventDelivery(models.Model):
    """One handler has handled one event: it is never run for that event again."""

    event = models.ForeignKey(OutboxEvent, on_delete=models.CASCADE, related_name="deliveries")
    handler = models.CharField(max_length=200)
    delivered_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["event", "handler"], name="one_delivery_per_handler")
        ]

    def __str__(self) -> str:
        return f"{self.handler} ← {self.event_id}"


class GroupRetry(models.Model):
    """Broker mode: one app's handlers failed on one event, and the event goes back to
    that app's queue (only) after a backoff, until they succeed or are given up.
    Written only on a failure: a clean delivery leaves nothing here."""

    class Status(models.TextChoices):
        PENDING = "pending", "pending"
        DONE = "done", "done"
        FAILED = "failed", "failed (gave up retrying)"

    event = models.ForeignKey(OutboxEvent, on_delete=models.CASCADE, related_name="retries")
    group = models.CharField(max_length=50)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    last_error = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["event", "group"], name="one_retry_per_group")
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=models.Q(status="pending"),
                name="group_retry_due",
            )
        ]

    def __str__(self) -> str:
        return f"{self.group} ← {self.event_id}"


class Session(AbstractBaseSession):
    """A storefront session with the account signed in with it (`vodstore.sessions`):
    the account's sessions are found by index, and read with the session in one query."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
    )

    class Meta(AbstractBaseSession.Meta):
        db_table = "vodstore_session"

    @classmethod
    def get_session_store_class(cls):
        from vodstore.sessions import SessionStore

        return SessionStore
