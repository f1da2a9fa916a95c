"""Purchases (each naming its film by the catalog's id, with the title and amount it was
bought for), the idempotency keys of purchase requests, watch progress and receipts."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from vodstore.vocabulary import PaymentMethod


class Purchase(models.Model):
    """A user's purchase of a film. Approved only together with its payment."""

    class Status(models.TextChoices):
        PAID = "paid", _("paid")
        CANCELLED = "cancelled", _("cancelled")

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    # The catalog's id of the film: a plain number, not a foreign key into another app's
    # table. A film once sold is retired (taken off sale), never deleted, and the
    # purchase keeps what it needs of it as it was when bought: its title and the amount.
    vod_id = models.BigIntegerField(db_index=True)
    vod_title = models.CharField(max_length=200)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PAID)
    payment_method = models.CharField(max_length=10, choices=PaymentMethod.choices)
    amount = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # A user owns a film at most once; enforced by the database, also for races.
            models.UniqueConstraint(
                fields=["user", "vod_id"],
                condition=Q(status="paid"),
                name="one_paid_purchase_per_user_and_vod",
            ),
            models.CheckConstraint(
                condition=Q(payment_method__in=PaymentMethod.values),
                name="purchase_payment_method_known",
            ),
        ]
        indexes = [
            models.Index(fields=["user", "-created_at"], name="purchase_user_recent"),
            # admin's list, newest first, and any span of days (the sales overview,
            # /metrics' running totals), without reading the whole table
            models.Index(fields=["-created_at", "-id"], name="purchase_recent"),
            # /metrics: the cancellations since the last count
            models.Index(
                fields=["cancelled_at"], condition=Q(status="cancelled"), name="purchase_cancelled"
            ),
        ]

    def __str__(self) -> str:
        # reads the user unless selected with the purchase (the admin selects it)
        return f"{self.vod_title} for {self.user.get_username()} ({self.status})"


class IdempotencyKey(models.Model):
    """The first response to a purchase request sent with an `Idempotency-Key`."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of the request body")
    # Set in the purchase's own transaction: a crash before the response is stored
    # still leaves the key pointing at the purchase it made.
    purchase_id = models.PositiveBigIntegerField(null=True, blank=True)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="one_idempotency_key_per_user")
        ]

    def __str__(self) -> str:
        return f"{self.key} ({self.user_id})"


class WatchProgress(models.Model):
    """Where the owner of a purchase is in its film, and how far it has ever played
    (which decides whether it may still be refunded)."""

    purchase = models.OneToOneField(Purchase, on_delete=models.CASCADE, related_name="progress")
    position_seconds = models.FloatField(default=0)
    furthest_seconds = models.FloatField(default=0)
    # the feature's length when the position was saved (None: no video known)
    duration_seconds = models.FloatField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "watch progress"

    def __str__(self) -> str:
        return f"{self.purchase_id} at {self.position_seconds:.0f} s"


class Receipt(models.Model):
    """The e-mailed receipt of a purchase, claimed before it is sent: one per purchase
    (the primary key is the purchase), so an event delivered twice sends it once.
    `sent_at` stays empty when the process died between the claim and the send (that
    receipt is not sent again: never twice is preferred to surely once)."""

    purchase = models.OneToOneField(
        Purchase, on_delete=models.PROTECT, primary_key=True, related_name="+"
    )
    email = models.EmailField(max_length=254)
    claimed_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"receipt of {self.purchase_id}"


class ClosedSalesDay(models.Model):
    """The sales overview's figures of one store day that is over, kept so that the
    overview sums only today's rows (`purchase.sales`). A day's figures never change once
    it is over: every figure counts on the day of its own timestamp (a purchase on the
    day it was made, a refund on the day of the cancellation), and timestamps are the
    moment of writing. Days are calendar days of a time zone: one row per day and zone."""

    day = models.DateField()
    time_zone = models.CharField(max_length=64)
    purchases = models.BigIntegerField()
    with_points = models.BigIntegerField()
    revenue = models.BigIntegerField()
    refunds = models.BigIntegerField()
    refunded = models.BigIntegerField()
    points_issued = models.BigIntegerField()
    points_taken_back = models.BigIntegerField()
    points_spent = models.BigIntegerField()
    points_returned = models.BigIntegerField()
    kept_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["time_zone", "day"], name="one_sales_day_per_zone")
        ]

    def __str__(self) -> str:
        return f"{self.day} ({self.time_zone})"
