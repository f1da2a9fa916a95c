"""The project package as an app: it owns the event outbox and wires the events."""

from django.apps import AppConfig


class VodstoreConfig(AppConfig):
    name = "vodstore"
    verbose_name = "Store infrastructure"

    def ready(self) -> None:
        from vodstore import schema  # noqa: F401 - registers the token scheme
        from vodstore.metrics import collect_outbox, register_collector
        from vodstore.wiring import wire

        register_collector(collect_outbox)
        wire()  # every app's models are loaded by now, so every handler can be imported
