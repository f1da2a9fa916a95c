"""Mileage accounts and their append-only ledger."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class MileageAccount(models.Model):
    """A user's points. `balance` always equals the sum of the account's entries."""

    # The user's id is the account's id: spending needs no lookup before its UPDATE.
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="mileage_account",
    )
    balance = models.IntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.user} ({self.balance:,} points)"


class MileageEntry(models.Model):
    """One change of a balance, named after the event that caused it. Never edited."""

    class Reason(models.TextChoices):
        EARNED = "earned", _("earned")
        SPENT = "spent", _("spent")
        CLAWED_BACK = "clawed_back", _("taken back")
        REFUNDED = "refunded", _("returned")

    account = models.ForeignKey(MileageAccount, on_delete=models.PROTECT, related_name="entries")
    delta = models.IntegerField()
    reason = models.CharField(max_length=20, choices=Reason.choices)
    purchase_id = models.PositiveBigIntegerField()
    event_id = models.UUIDField(unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "mileage entries"
        ordering = ["-created_at", "-id"]
        constraints = [
            # a purchase earns, spends, or is reversed at most once
            models.UniqueConstraint(fields=["purchase_id", "reason"], name="one_entry_per_reason"),
            models.CheckConstraint(condition=~Q(delta=0), name="entry_changes_something"),
        ]
        indexes = [
            models.Index(fields=["account", "-created_at"], name="entry_account_recent"),
            # admin's ledger newest first and the sales overview's days, without reading
            # the whole ledger
            models.Index(fields=["-created_at", "-id"], name="entry_recent"),
            # admin's ledger of one reason newest first: a rare one (points returned) is
            # a few entries in a million, which `entry_recent` would read past
            models.Index(fields=["reason", "-created_at", "-id"], name="entry_reason_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.delta:+,d} {self.reason} (purchase {self.purchase_id})"
