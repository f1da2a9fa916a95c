"""Accounts API: sign up, obtain a token, log out (this device or every device). Users
are Django's own; API tokens are django-rest-knox's: stored as hashes, expiring, one
per device, and all revoked when the password changes. Log-in failures are counted by
django-axes, which refuses before a password is hashed (`lockout_response` answers).
"""

import math

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import password_validation
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.db.models.signals import pre_save
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext, gettext_lazy, ngettext
from drf_spectacular.utils import OpenApiExample, extend_schema
from knox.models import AuthToken
from rest_framework import generics, serializers
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response

from vodstore.account_services import EMAIL_TAKEN_MESSAGE, email_normalize, email_taken
from vodstore.api import JSONTypes, error_example, error_responses, invalid_example
from vodstore.ratelimit import RateLimited, attempt


class SignupThrottled(RateLimited):
    default_detail = "Too many sign-ups from this address, please try again later."


def client_address(request) -> str:
    return request.META.get("REMOTE_ADDR", "")


def signup_attempt(request):
    """Count a sign-up from the request's client address (`SIGNUP_RATE`)."""
    return attempt(
        scope="signup",
        who=client_address(request),
        rate=settings.SIGNUP_RATE,
        refused=SignupThrottled,
    )


def new_token(user: User) -> tuple[str, AuthToken]:
    """A new API token for `user` (the key is shown once; only its hash is kept)."""
    instance, key = AuthToken.objects.create(user=user)
    return key, instance


class SignupSerializer(JSONTypes, serializers.Serializer):
    username = serializers.RegexField(
        r"^[\w.@+-]+\Z",
        max_length=150,
        error_messages={"invalid": "Letters, digits and @/./+/-/_ only."},
    )
    password = serializers.CharField(write_only=True, max_length=128, trim_whitespace=False)
    # Optional here, unlike the storefront's form: scripts and API clients made
    # accounts without one before, and an account without an address only misses
    # password resets and receipts. Unique whatever its case; not verified (see
    # vodstore.account_services).
    email = serializers.EmailField(
        max_length=254,
        required=False,
        allow_blank=True,
        help_text="For password resets and purchase receipts (optional).",
    )

    def validate_username(self, value: str) -> str:
        if User.objects.filter(username__iexact=value).exists():
            raise serializers.ValidationError("This username is taken.", code="username_taken")
        return value

    def validate_email(self, value: str) -> str:
        value = email_normalize(value)
        if email_taken(email=value):
            raise serializers.ValidationError(str(EMAIL_TAKEN_MESSAGE), code="email_taken")
        return value

    def validate(self, attrs: dict) -> dict:
        try:
            password_validation.validate_password(
                attrs["password"], User(username=attrs["username"])
            )
        except DjangoValidationError as exc:
            raise serializers.ValidationError({"password": list(exc.messages)}) from exc
        return attrs


class SignupResponseSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    email = serializers.CharField()
    token = serializers.CharField()
    expiry = serializers.DateTimeField()


class TokenResponseSerializer(serializers.Serializer):
    token = serializers.CharField()
    expiry = serializers.DateTimeField()


# The OpenAPI schema's examples: a newcomer signing up and getting a token
CREDENTIALS_EXAMPLE = {"username": "mina", "password": "quiet-harbor-2026"}
TOKEN_EXAMPLE = {
    "token": "9f3b6c1d8e2a4f70b5c9d1e3a7f2468b0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f",
    "expiry": "2026-12-15T21:00:00.000000+09:00",
}
SIGNUP_EXAMPLES = [
    OpenApiExample(
        "Sign up", value={**CREDENTIALS_EXAMPLE, "email": "mina@example.com"}, request_only=True
    ),
    OpenApiExample(
        "Signed up",
        value={"id": 42, "username": "mina", "email": "mina@example.com", **TOKEN_EXAMPLE},
        response_only=True,
        status_codes=["201"],
    ),
    invalid_example("username_taken", {"username": ["This username is taken."]}),
    invalid_example("password_too_common", {"password": ["This password is too common."]}),
]
TOKEN_EXAMPLES = [
    OpenApiExample("Log in", value=CREDENTIALS_EXAMPLE, request_only=True),
    OpenApiExample("A new token", value=TOKEN_EXAMPLE, response_only=True, status_codes=["200"]),
    invalid_example(
        "wrong_credentials",
        {"non_field_errors": ["Unable to log in with provided credentials."]},
    ),
]


class SignupView(generics.GenericAPIView):
    """Create an account; the answer carries an API token. Sign-ups are limited per
    client address (`SIGNUP_RATE`)."""

    name = gettext_lazy("Sign up")
    serializer_class = SignupSerializer
    permission_classes = [AllowAny]
    authentication_classes = []

    @extend_schema(
        responses={
            201: SignupResponseSerializer,
            **error_responses(
                429,
                examples={
                    429: [
                        error_example(
                            "throttled",
                            {
                                "code": "throttled",
                                "detail": SignupThrottled.default_detail,
                                "retry_after": 1800,
                            },
                        )
                    ]
                },
            ),
        },
        examples=SIGNUP_EXAMPLES,
    )
    def post(self, request):
        with signup_attempt(request):
            params = SignupSerializer(data=request.data)
            params.is_valid(raise_exception=True)
            try:
                with transaction.atomic():
                    user = User.objects.create_user(
                        username=params.validated_data["username"],
                        email=params.validated_data.get("email", ""),
                        password=params.validated_data["password"],
                    )
                    key, token = new_token(user)
            except IntegrityError as exc:  # the same name or address a moment ago
                taken = email_taken(email=params.validated_data.get("email", ""))
                field = "email" if taken else "username"
                message = EMAIL_TAKEN_MESSAGE if field == "email" else "This username is taken."
                raise serializers.ValidationError({field: [str(message)]}) from exc
        body = {
            "id": user.id,
            "username": user.username,
            "email": user.email,
            "token": key,
            "expiry": token.expiry,
        }
        return Response(SignupResponseSerializer(body).data, status=201)


class TokenSerializer(JSONTypes, AuthTokenSerializer):
    """A username and password for a token; nothing else."""


class TokenView(generics.GenericAPIView):
    """Exchange a username and password for a new API token (one per device; it
    expires). Failed attempts are counted per account and per client address and
    locked out for a while (429 with `Retry-After`) before any password is checked."""

    name = gettext_lazy("Get an API token")
    serializer_class = TokenSerializer
    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(
        responses={
            200: TokenResponseSerializer,
            **error_responses(
                429,
                examples={
                    429: [
                        error_example(
                            "locked_out",
                            {
                                "code": "locked_out",
                                "detail": "Too many failed log-ins; try again later.",
                                "retry_after": 300,
                            },
                        )
                    ]
                },
            ),
        },
        examples=TOKEN_EXAMPLES,
    )
    def post(self, request):
        # Django's request, not DRF's wrapper: django-axes marks a lock-out on the
        # request it is given, and its middleware reads Django's.
        params = TokenSerializer(data=request.data, context={"request": request._request})
        params.is_valid(raise_exception=True)
        key, token = new_token(params.validated_data["user"])
        return Response(TokenResponseSerializer({"token": key, "expiry": token.expiry}).data)


class LogoutView(generics.GenericAPIView):
    """Revoke the token this request was made with (log out of this device)."""

    name = gettext_lazy("Log out (this token)")
    permission_classes = [IsAuthenticated]
    serializer_class = serializers.Serializer

    @extend_schema(request=None, responses={204: None})
    def post(self, request):
        if isinstance(request.auth, AuthToken):
            request.auth.delete()
        return Response(status=204)


class LogoutAllView(generics.GenericAPIView):
    """Revoke every API token of your account (log out of all devices)."""

    name = gettext_lazy("Log out everywhere")
    permission_classes = [IsAuthenticated]
    serializer_class = serializers.Serializer

    @extend_schema(request=None, responses={204: None})
    def post(self, request):
        AuthToken.objects.filter(user=request.user).delete()
        return Response(status=204)


@receiver(pre_save, sender=User)
def revoke_tokens_on_password_change(sender, instance: User, **kwargs) -> None:
    """A new password ends every API token of the account (`set_password` marks it)."""
    if instance.pk and getattr(instance, "_password", None) is not None:
        AuthToken.objects.filter(user_id=instance.pk).delete()


def lockout_response(request: HttpRequest, original_response, credentials) -> HttpResponse:
    """django-axes' answer to a locked-out log-in: 429 with `Retry-After`, as JSON in
    the API and as the log-in page with a message in the storefront and admin."""
    seconds = math.ceil(settings.AXES_COOLOFF_TIME.total_seconds())
    if request.path.startswith("/api/"):
        response = JsonResponse(
            {
                "code": "locked_out",
                "detail": "Too many failed log-ins; try again later.",
                "retry_after": seconds,
            },
            status=429,
        )
    else:
        minutes = max(1, math.ceil(seconds / 60))
        messages.error(
            request,
            ngettext(
                "Too many failed log-ins. Please try again in %(minutes)d minute.",
                "Too many failed log-ins. Please try again in %(minutes)d minutes.",
                minutes,
            )
            % {"minutes": minutes},
        )
        response = render(
            request,
            "registration/locked_out.html",
            {"title": gettext("Log-in paused")},
            status=429,
        )
    response["Retry-After"] = str(seconds)
    return response
