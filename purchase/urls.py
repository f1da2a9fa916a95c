"""Storefront URLs of purchase: buy and watch a film, my library, my purchases."""

from django.urls import path

from purchase import views

app_name = "purchase"

# `id` is the project's database-id converter (registered in vodstore.urls).
urlpatterns = [
    path("films/<id:pk>/buy/", views.buy_view, name="buy"),
    path("films/<id:pk>/watch/", views.watch_view, name="watch"),
    path("films/<id:pk>/watch/video/", views.watch_video_view, name="watch-video"),
    path("films/<id:pk>/watch/source/", views.watch_source_view, name="watch-source"),
    path("library/", views.library_view, name="library"),
    path("purchases/", views.purchase_list_view, name="list"),
    path("purchases/<id:pk>/", views.purchase_detail_view, name="detail"),
    path("purchases/<id:pk>/cancel/", views.purchase_cancel_view, name="cancel"),
]
