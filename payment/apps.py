"""Payment app: payments, the gateway port, and the wiring of its event handlers."""

from django.apps import AppConfig


class PaymentConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "payment"

    def ready(self) -> None:
        from payment import handlers, metrics
        from vodstore.events import subscribe
        from vodstore.metrics import register_collector

        register_collector(metrics.collect)

        # Not atomic: it calls the gateway, which must never happen while holding the
        # database write lock; payment_cancel is idempotent by itself.
        subscribe("VodPurchaseCancelled", handlers.cancel_on_purchase_cancelled, atomic=False)
