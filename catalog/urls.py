"""Storefront URLs of the catalog."""

from django.urls import path

from catalog import views

app_name = "catalog"

urlpatterns = [
    path("", views.vod_list_view, name="list"),
    path("films/<int:pk>/", views.vod_detail_view, name="detail"),
    # `id`: the project's database-id converter (registered in vodstore.urls)
    path("films/<id:pk>/trailer/", views.vod_trailer_view, name="trailer"),
]
