"""The project package as an app: it owns the event outbox."""

from django.apps import AppConfig


class VodstoreConfig(AppConfig):
    name = "vodstore"
    verbose_name = "Store infrastructure"
