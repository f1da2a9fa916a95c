"""Response headers Django does not set by itself."""

from django.conf import settings


class PermissionsPolicyMiddleware:
    """`Permissions-Policy`: the browser features no page of the store may use."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response.headers.setdefault("Permissions-Policy", settings.PERMISSIONS_POLICY)
        return response
