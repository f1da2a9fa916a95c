"""Accounts API: sign up and obtain a token. Users are Django's own."""

from django.contrib.auth import password_validation
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers
from rest_framework.authtoken.models import Token
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.permissions import AllowAny
from rest_framework.response import Response


class SignupSerializer(serializers.Serializer):
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


class SignupView(generics.GenericAPIView):
    """Create an account; the answer carries an API token."""

    serializer_class = SignupSerializer
    permission_classes = [AllowAny]
    authentication_classes = []

    @extend_schema(responses={201: SignupResponseSerializer})
    def post(self, request):
        params = SignupSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        try:
            with transaction.atomic():
                user = User.objects.create_user(
                    username=params.validated_data["username"],
                    password=params.validated_data["password"],
                )
                token = Token.objects.create(user=user)
        except IntegrityError as exc:  # the same name signed up a moment ago
            raise serializers.ValidationError({"username": ["This username is taken."]}) from exc
        return Response({"id": user.id, "username": user.username, "token": token.key}, status=201)


class TokenView(ObtainAuthToken):
    """Exchange a username and password for your API token."""

    authentication_classes = []
    permission_classes = [AllowAny]
