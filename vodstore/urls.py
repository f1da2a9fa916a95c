"""The store's URLs: storefront pages, the JSON API under /api/, admin, operations."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from catalog import rest as catalog_rest
from vodstore import health

api_patterns = [
    path("vods/", catalog_rest.VodListCreateView.as_view(), name="vod-list"),
    path("vods/<int:pk>/", catalog_rest.VodDetailView.as_view(), name="vod-detail"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
]

urlpatterns = [
    path("", include("catalog.urls")),
    path("accounts/", include("django.contrib.auth.urls")),
    path("api/", include(api_patterns)),
    path("admin/", admin.site.urls),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
]
