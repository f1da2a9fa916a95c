"""The OpenAPI schema's description of the store's token authentication."""

from drf_spectacular.contrib.knox_auth_token import KnoxTokenScheme


class StoreTokenScheme(KnoxTokenScheme):
    """`Authorization: Token <key>`, as knox's own scheme, for the store's subclass."""

    target_class = "vodstore.auth.TokenAuthentication"
    name = "tokenAuth"
