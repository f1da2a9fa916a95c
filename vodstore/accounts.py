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
from django.utils.translation import gettext, ngettext
from drf_spectacular.utils import extend_schema
from knox.models import AuthToken
from rest_framework import generics, serializers
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response

from vodstore.api import JSONTypes, error_responses
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

    def validate_username(self, value: str) -> str:
        if User.objects.filter(username__iexact=value).exists():
            raise serializers.ValidationError("This username is taken.", code="username_taken")
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
    token = serializers.CharField()
    expiry = serializers.DateTimeField()


class TokenResponseSerializer(serializers.Serializer):
    token = serializers.CharField()
    expiry = serializers.DateTimeField()


class SignupView(generics.GenericAPIView):
    """Create an account; the answer carries an API token. Sign-ups are limited per
    client address (`SIGNUP_RATE`)."""

    serializer_class = SignupSerializer
    permission_classes = [AllowAny]
    authentication_classes = []

    @extend_schema(responses={201: SignupResponseSerializer, **error_responses(429)})
    def post(self, request):
        with signup_attempt(request):
            params = SignupSerializer(data=request.data)
            params.is_valid(raise_exception=True)
            try:
                with transaction.atomic():
                    user = User.objects.create_user(
                        username=params.validated_data["username"],
                        password=params.validated_data["password"],
                    )
                    key, token = new_token(user)
            except IntegrityError as exc:  # the same name signed up a moment ago
                raise serializers.ValidationError(
                    {"username": ["This username is taken."]}
                ) from exc
        body = {"id": user.id, "username": user.username, "token": key, "expiry": token.expiry}
        return Response(SignupResponseSerializer(body).data, status=201)


class TokenSerializer(JSONTypes, AuthTokenSerializer):
    """A username and password for a token; nothing else."""


class TokenView(generics.GenericAPIView):
    """Exchange a username and password for a new API token (one per device; it
    expires). Failed attempts are counted per account and per client address and
    locked out for a while (429 with `Retry-After`) before any password is checked."""

    serializer_class = TokenSerializer
    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(responses={200: TokenResponseSerializer, **error_responses(429)})
    def post(self, request):
        # Django's request, not DRF's wrapper: django-axes marks a lock-out on the
        # request it is given, and its middleware reads Django's.
        params = TokenSerializer(data=request.data, context={"request": request._request})
        params.is_valid(raise_exception=True)
        key, token = new_token(params.validated_data["user"])
        return Response(TokenResponseSerializer({"token": key, "expiry": token.expiry}).data)


class LogoutView(generics.GenericAPIView):
    """Revoke the token this request was made with (log out of this device)."""

    permission_classes = [IsAuthenticated]
    serializer_class = serializers.Serializer

    @extend_schema(request=None, responses={204: None})
    def post(self, request):
        if isinstance(request.auth, AuthToken):
            request.auth.delete()
        return Response(status=204)


class LogoutAllView(generics.GenericAPIView):
    """Revoke every API token of your account (log out of all devices)."""

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
