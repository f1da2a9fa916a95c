"""The store's URLs: storefront pages, the JSON API under /api/, admin, operations."""

from django.contrib import admin
from django.urls import include, path, re_path, register_converter
from django.views.decorators.csrf import csrf_exempt
from django.views.i18n import set_language
from drf_spectacular.views import SpectacularAPIView

from catalog import rest as catalog_rest
from mileage import rest as mileage_rest
from payment import rest as payment_rest
from purchase import rest as purchase_rest
from vodstore import account_pages, accounts, api, api_root, health, metrics


class IdConverter:
    """A database id: at most 18 digits, so no id overflows a 64-bit column (a 404
    instead of a database error)."""

    regex = "[0-9]{1,18}"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int) -> str:
        return str(value)


register_converter(IdConverter, "id")

api_patterns = [
    path("", api_root.ApiRootView.as_view(), name="api-root"),
    path("auth/signup/", accounts.SignupView.as_view(), name="signup-api"),
    path("auth/token/", accounts.TokenView.as_view(), name="token"),
    path("auth/logout/", accounts.LogoutView.as_view(), name="token-logout"),
    path("auth/logout-all/", accounts.LogoutAllView.as_view(), name="token-logout-all"),
    path("vods/", catalog_rest.VodListCreateView.as_view(), name="vod-list"),
    path("vods/<id:pk>/", catalog_rest.VodDetailView.as_view(), name="vod-detail"),
    path("purchases/", purchase_rest.PurchaseListCreateView.as_view(), name="purchase-list"),
    path("purchases/<id:pk>/", purchase_rest.PurchaseDetailView.as_view(), name="purchase-detail"),
    path(
        "purchases/<id:pk>/cancel/",
        purchase_rest.PurchaseCancelView.as_view(),
        name="purchase-cancel",
    ),
    path("progress/", purchase_rest.ProgressListView.as_view(), name="progress-list"),
    path(
        "progress/<id:vod_id>/",
        purchase_rest.ProgressDetailView.as_view(),
        name="progress-detail",
    ),
    path("payments/", payment_rest.PaymentListView.as_view(), name="payment-list"),
    path("payments/<id:pk>/", payment_rest.PaymentDetailView.as_view(), name="payment-detail"),
    path("mileage/", mileage_rest.MileageSummaryView.as_view(), name="mileage"),
    path("mileage/entries/", mileage_rest.MileageEntryListView.as_view(), name="mileage-entries"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", api.ApiDocsView.as_view(url_name="schema"), name="swagger-ui"),
    # the browsable API's log-in and log-out (the session; tokens have auth/token/)
    path("auth/session/", include(api_root.session_urls)),
    # last: any other address is a JSON 404 (or a 308 to the one with a final slash)
    re_path(r"^.*$", api_root.no_such_endpoint),
]

handler400 = "vodstore.outage.bad_request"
handler403 = "vodstore.error_pages.permission_denied"
handler404 = "vodstore.api.not_found"
handler500 = "vodstore.outage.server_error"

urlpatterns = [
    path("", include("catalog.urls")),
    path("", include("purchase.urls")),
    path("", include("mileage.urls")),
    path("accounts/signup/", account_pages.signup_view, name="signup"),
    path("accounts/", account_pages.account_view, name="account"),
    path(
        "accounts/sign-out-everywhere/",
        account_pages.sign_out_everywhere_view,
        name="sign-out-everywhere",
    ),
    path("accounts/delete/", account_pages.account_delete_view, name="account-delete"),
    # the store's own versions of Django's views (same names as django.contrib.auth.urls)
    path(
        "accounts/password_change/",
        account_pages.PasswordChangeView.as_view(),
        name="password_change",
    ),
    path(
        "accounts/password_reset/",
        account_pages.PasswordResetView.as_view(),
        name="password_reset",
    ),
    path(
        "accounts/reset/<uidb64>/<token>/",
        account_pages.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path("accounts/", include("django.contrib.auth.urls")),
    # Choosing the storefront's language sets a cookie and nothing of an account: no
    # CSRF token is asked, so the pages that offer it hold none and may be shared
    # (catalog.pages). A forged post could at worst switch a visitor's language.
    path("i18n/setlang/", csrf_exempt(set_language), name="set_language"),
    path("api", api_root.no_such_endpoint),
    path("api/", include(api_patterns)),
    path("admin/", admin.site.urls),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics.metrics_view, name="metrics"),
]
