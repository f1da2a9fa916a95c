"""Storefront URLs of mileage."""

from django.urls import path

from mileage import views

app_name = "mileage"

urlpatterns = [
    path("mileage/", views.mileage_view, name="summary"),
]
