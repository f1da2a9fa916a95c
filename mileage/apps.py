"""Mileage app: accounts, ledger, and the wiring of its event handlers."""

from django.apps import AppConfig


class MileageConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "mileage"

    def ready(self) -> None:
        from mileage import handlers
        from vodstore.events import subscribe

        subscribe("PaymentApproved", handlers.earn_on_payment_approved)
        subscribe("PaymentCancelled", handlers.reverse_on_payment_cancelled)
