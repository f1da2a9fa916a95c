"""Catalog app: films, and the wiring that keeps the catalog's read cache fresh."""

from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


class CatalogConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "catalog"

    def ready(self) -> None:
        from catalog.cache import on_vod_saved_or_deleted
        from catalog.models import Vod

        # Model signals rather than the VodRegistered event: they also see admin edits,
        # withdrawals and deletions, which publish no event.
        post_save.connect(on_vod_saved_or_deleted, sender=Vod, dispatch_uid="catalog-cache-save")
        post_delete.connect(
            on_vod_saved_or_deleted, sender=Vod, dispatch_uid="catalog-cache-delete"
        )
