"""Django admin for the catalog: staff add, edit and withdraw films."""

from django.contrib import admin
from django.db import models

from catalog.models import Vod


@admin.register(Vod)
class VodAdmin(admin.ModelAdmin):
    list_display = ["title", "genre", "release_year", "runtime_minutes", "price", "is_active"]
    list_filter = ["is_active", "genre", "release_year"]
    search_fields = ["title"]
    list_editable = ["is_active"]
    ordering = ["-created_at"]
    readonly_fields = ["created_at", "updated_at"]
    list_per_page = 50
    # a poster URL typed without a scheme is taken as https (Django 6.0's default)
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
