"""Purchase app: purchases and the buy and cancel use cases."""

from django.apps import AppConfig


class PurchaseConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "purchase"

    def ready(self) -> None:
        from purchase import handlers, metrics
        from vodstore.events import subscribe
        from vodstore.metrics import register_collector

        register_collector(metrics.collect)

        # Not atomic: it waits on the mail server, which must never happen while
        # holding the database write lock; the receipt's claim makes it send once.
        # Deferred: the buyer's answer never waits on the mail server (the worker
        # sends it, or the purchase group's consumer in broker mode).
        subscribe(
            "VodPurchased", handlers.send_receipt_on_vod_purchased, atomic=False, deferred=True
        )
