"""Purchase app: purchases and the buy and cancel use cases (its event handlers are wired
in vodstore/wiring.py)."""

from django.apps import AppConfig


class PurchaseConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "purchase"

    def ready(self) -> None:
        from purchase import metrics
        from vodstore.metrics import register_collector

        register_collector(metrics.collect)
