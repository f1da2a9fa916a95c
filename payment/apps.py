"""Payment app: payments and the gateway port (its event handlers are wired in
vodstore/wiring.py)."""

from django.apps import AppConfig


class PaymentConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "payment"

    def ready(self) -> None:
        from payment import metrics
        from vodstore.metrics import register_collector

        register_collector(metrics.collect)
