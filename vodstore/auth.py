"""API token authentication (django-rest-knox), kept apart from the views: DRF imports
it while it sets itself up."""

from django.utils import timezone
from knox.auth import TokenAuthentication as KnoxTokenAuthentication
from knox.crypto import create_token_string, hash_token
from knox.models import AuthToken
from knox.settings import CONSTANTS, knox_settings


class TokenAuthentication(KnoxTokenAuthentication):
    """knox's token authentication, without its sweep of the user's other tokens on
    every request (a query per API call): an expired token is deleted when it is
    presented, and `manage.py purge_expired_tokens` removes the rest."""

    def _cleanup_token(self, auth_token) -> bool:
        if auth_token.expiry is not None and auth_token.expiry < timezone.now():
            auth_token.delete()
            return True
        return False


def tokens_in_bulk(users) -> list[str]:
    """A new API token for each of `users`, in one insert (drills and benchmarks)."""
    keys = [create_token_string() for _ in users]
    expiry = timezone.now() + knox_settings.TOKEN_TTL
    AuthToken.objects.bulk_create(
        [
            AuthToken(
                digest=hash_token(key),
                token_key=key[: CONSTANTS.TOKEN_KEY_LENGTH],
                user=user,
                expiry=expiry,
            )
            for key, user in zip(keys, users, strict=True)
        ],
        batch_size=2000,
    )
    return keys
