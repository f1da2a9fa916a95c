"""The project package as an app: it owns the event outbox."""

from django.apps import AppConfig


class VodstoreConfig(AppConfig):
    name = "vodstore"
    verbose_name = "Store infrastructure"

    def ready(self) -> None:
        from vodstore import schema  # noqa: F401 - registers the token scheme
        from vodstore.events import collect_metrics
        from vodstore.metrics import register_collector

        register_collector(collect_metrics)
