"""Payments, one per purchase, by card through the gateway or with mileage points; and
the operations the store asked the gateway to make, each recorded before it is made."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from vodstore.vocabulary import PaymentMethod


def new_key() -> str:
    return f"vodstore-{uuid.uuid4().hex}"


class Operation(models.Model):
    """One money-moving call to the gateway: committed before the call, updated with
    its answer. Its `key` is the gateway's idempotency key, so repeating the call after
    any crash repeats this operation and never makes another.

    An authorization serves at most one purchase: the purchase's transaction sets
    `purchase_id` (so it is set exactly when that purchase committed), or the store
    releases it (`released_at`) and voids it. Both are conditional updates of this row,
    which is what decides between a late purchase and the reconciler. Capture, void
    and refund follow an authorization, at most one of each kind."""

    class Kind(models.TextChoices):
        AUTHORIZE = "authorize", _("authorize")
        CAPTURE = "capture", _("capture")
        VOID = "void", _("void")
        REFUND = "refund", _("refund")

    class State(models.TextChoices):
        PENDING = "pending", _("pending (outcome not known yet)")
        SUCCEEDED = "succeeded", _("succeeded")
        FAILED = "failed", _("failed (no money moved)")

    kind = models.CharField(max_length=10, choices=Kind.choices)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    key = models.CharField(max_length=64, unique=True, default=new_key, editable=False)
    gateway = models.CharField(max_length=50, help_text="the adapter that was asked")
    amount = models.PositiveIntegerField(help_text="KRW")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    reference = models.CharField(max_length=100, blank=True, help_text="the gateway's charge")
    authorization = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="followups"
    )
    # Authorizations only: the buyer's request it serves (a retry after a crash resumes
    # it), the purchase that committed with it, or when the store let it go.
    # NULL, not "": the key is unique among live authorizations that have one
    request_key = models.CharField(max_length=300, null=True, blank=True)  # noqa: DJ001
    purchase_id = models.PositiveBigIntegerField(null=True, blank=True)
    released_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["authorization", "kind"],
                condition=Q(authorization__isnull=False),
                name="one_followup_of_each_kind",
            ),
            models.UniqueConstraint(
                fields=["request_key"],
                condition=Q(
                    request_key__isnull=False, purchase_id__isnull=True, released_at__isnull=True
                )
                & ~Q(state="failed"),
                name="one_live_authorization_per_request",
            ),
            models.CheckConstraint(
                condition=Q(purchase_id__isnull=True) | Q(released_at__isnull=True),
                name="authorization_used_or_released",
            ),
        ]
        indexes = [
            models.Index(
                fields=["updated_at"], condition=Q(state="pending"), name="payment_op_in_doubt"
            ),
            models.Index(
                fields=["updated_at"],
                condition=Q(
                    kind="authorize",
                    state="succeeded",
                    purchase_id__isnull=True,
                    released_at__isnull=True,
                ),
                name="payment_op_unused_auth",
            ),
            # admin: the list newest first, and a search by purchase or by the
            # gateway's reference, without reading the whole table
            models.Index(fields=["-created_at", "-id"], name="payment_op_recent"),
            models.Index(
                fields=["-created_at", "-id"],
                condition=Q(kind__in=["void", "refund"]) | Q(state__in=["pending", "failed"]),
                name="payment_op_unusual",
            ),
            models.Index(
                fields=["purchase_id"],
                condition=Q(purchase_id__isnull=False),
                name="payment_op_purchase",
            ),
            models.Index(
                fields=["reference"], condition=~Q(reference=""), name="payment_op_reference"
            ),
            # admin's filter by kind = void: voids are rare beside refunds, so reading
            # the unusual ones newest first for them read nearly all of that index
            models.Index(
                fields=["-created_at", "-id"],
                condition=Q(kind="void"),
                name="payment_op_voids",
            ),
            # history retention: holds released (and voided) for nothing, oldest first
            models.Index(
                fields=["released_at"],
                condition=Q(released_at__isnull=False, purchase_id__isnull=True),
                name="payment_op_released",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} ₩{self.amount:,} ({self.state}) {self.key}"


class Payment(models.Model):
    class Status(models.TextChoices):
        APPROVED = "approved", _("approved")
        CANCELLED = "cancelled", _("cancelled")

    # The purchase is another context's object: kept by id. Its row commits in the
    # same transaction as this one, or neither exists.
    purchase_id = models.PositiveBigIntegerField(unique=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    method = models.CharField(max_length=10, choices=PaymentMethod.choices)
    amount = models.PositiveIntegerField(help_text="KRW for card, points for mileage")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.APPROVED)
    gateway = models.CharField(max_length=50, blank=True, help_text="the adapter that charged")
    gateway_reference = models.CharField(max_length=100, blank=True)
    authorization = models.OneToOneField(
        Operation, null=True, blank=True, on_delete=models.PROTECT, related_name="payment"
    )
    approved_at = models.DateTimeField()
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-approved_at", "-id"]
        indexes = [
            models.Index(fields=["user", "-approved_at"], name="payment_user_recent"),
            # admin's list newest first, the sales overview's days, /metrics' running
            # totals; a search by the gateway's reference (mileage payments have none)
            models.Index(fields=["-approved_at", "-id"], name="payment_recent"),
            models.Index(
                fields=["cancelled_at"], condition=Q(status="cancelled"), name="payment_cancelled"
            ),
            models.Index(
                fields=["gateway_reference"],
                condition=~Q(gateway_reference=""),
                name="payment_reference",
            ),
        ]

    def __str__(self) -> str:
        return f"payment {self.id} for purchase {self.purchase_id} ({self.status})"

    @property
    def approved(self) -> bool:
        """Still holding the money (or the points): not cancelled."""
        return self.status == self.Status.APPROVED
