"""Catalog app: films, and the wiring that keeps the catalog's read cache fresh."""

from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


class CatalogConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "catalog"

    def ready(self) -> None:
        from catalog.cache import on_vod_saved_or_deleted
        from catalog.models import Vod, VodMedia

        # Model signals rather than the VodRegistered event: they also see admin edits,
        # withdrawals and deletions, which publish no event. A film's media too: its
        # page says whether it has a trailer.
        for model in (Vod, VodMedia):
            name = model._meta.model_name
            post_save.connect(
                on_vod_saved_or_deleted, sender=model, dispatch_uid=f"catalog-cache-save-{name}"
            )
            post_delete.connect(
                on_vod_saved_or_deleted, sender=model, dispatch_uid=f"catalog-cache-delete-{name}"
            )
