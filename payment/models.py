"""Payments: one per purchase, by card through the gateway or with mileage points."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Method(models.TextChoices):
    CARD = "card", _("Card")
    MILEAGE = "mileage", _("Mileage points")


class Payment(models.Model):
    class Status(models.TextChoices):
        APPROVED = "approved", _("approved")
        CANCELLED = "cancelled", _("cancelled")

    # The purchase is another context's object: kept by id. Its row commits in the
    # same transaction as this one, or neither exists.
    purchase_id = models.PositiveBigIntegerField(unique=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    method = models.CharField(max_length=10, choices=Method.choices)
    amount = models.PositiveIntegerField(help_text="KRW for card, points for mileage")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.APPROVED)
    gateway_reference = models.CharField(max_length=100, blank=True)
    approved_at = models.DateTimeField()
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-approved_at", "-id"]
        indexes = [models.Index(fields=["user", "-approved_at"], name="payment_user_recent")]

    def __str__(self) -> str:
        return f"payment {self.id} for purchase {self.purchase_id} ({self.status})"
