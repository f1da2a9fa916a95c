"""Mileage app: accounts and the ledger (its event handlers are wired in vodstore/wiring.py)."""

from django.apps import AppConfig


class MileageConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "mileage"
