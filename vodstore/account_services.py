"""Account writes: e-mail addresses, signing out everywhere, closing an account.

Users are Django's own `auth.User`. An e-mail address is optional (accounts made before
the store asked for one keep working) and, when given, unique without regard to case:
the database enforces it with a unique index on `lower(email)` (migration
`vodstore.0004_user_email_unique`), the forms and the API check it first to say so.

Addresses are not verified at sign-up. The store sells nothing that an unverified
address could harm: purchases, films and points work without it, a password-reset
link only ever goes to the address the account holder typed, and a receipt to a
mistyped address tells its reader a film title and a price, nothing that signs in.
Asking for a confirmation before the first purchase would cost sign-ups for no safety.
"""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils.translation import gettext_lazy as _
from knox.models import AuthToken

from vodstore.errors import DomainError
from vodstore.models import Session


class EmailTaken(DomainError):
    status_code = 400
    code = "email_taken"
    default_detail = _("An account with this e-mail address already exists.")


EMAIL_TAKEN_MESSAGE = EmailTaken.default_detail


def email_normalize(email: str) -> str:
    """The address as stored: trimmed, its domain in lower case (Django's rule)."""
    return get_user_model().objects.normalize_email((email or "").strip())


def email_taken(*, email: str, exclude_user_id: int | None = None) -> bool:
    """Whether another account already has `email` (case-insensitive). "" never is."""
    if not email:
        return False
    others = User.objects.filter(email__iexact=email)
    if exclude_user_id is not None:
        others = others.exclude(pk=exclude_user_id)
    return others.exists()


def user_set_email(*, user_id: int, email: str) -> str:
    """Change (or, with "", remove) an account's e-mail address; return it as stored.
    Raises `EmailTaken` when another account has it, also when it was taken a moment
    ago by a concurrent request (the unique index decides)."""
    email = email_normalize(email)
    if email_taken(email=email, exclude_user_id=user_id):
        raise EmailTaken()
    try:
        with transaction.atomic():
            User.objects.filter(pk=user_id).update(email=email)
    except IntegrityError as exc:
        raise EmailTaken() from exc
    return email


def _end_sessions(*, user_id: int, keep_session_key: str | None = None) -> int:
    """Delete the sessions signed in as `user_id` (all but `keep_session_key`): one
    delete by the sessions' account column (`vodstore.sessions`)."""
    ended, _ = (
        Session.objects.filter(user_id=user_id).exclude(session_key=keep_session_key).delete()
    )
    return ended


def user_sign_out_everywhere(*, user_id: int, keep_session_key: str | None = None) -> int:
    """End every storefront session of the account (except the one asking, when given)
    and revoke every API token; return how many sessions and tokens were ended."""
    with transaction.atomic():
        tokens, _ = AuthToken.objects.filter(user_id=user_id).delete()
        sessions = _end_sessions(user_id=user_id, keep_session_key=keep_session_key)
    return sessions + tokens


def user_anonymize(*, user_id: int) -> None:
    """Close an account without deleting it.

    Purchases, payments and the points ledger are the store's books and must stay:
    they point at the user row, which stays too. Everything that identifies or admits
    the person goes: the username becomes `deleted-<id>`, the e-mail and names are
    emptied, the password is made unusable, the account is deactivated, staff rights
    are dropped, and every session and API token is ended. Nobody can log in as it or
    ask for a password reset for it; its address and name are free for a new account."""
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user_id)
        user.username = f"deleted-{user.pk}"
        user.email = ""
        user.first_name = ""
        user.last_name = ""
        user.is_active = False
        user.is_staff = False
        user.is_superuser = False
        user.set_unusable_password()  # also revokes the API tokens (accounts.py)
        user.save()
        user.groups.clear()
        user.user_permissions.clear()
        user_sign_out_everywhere(user_id=user.pk)
