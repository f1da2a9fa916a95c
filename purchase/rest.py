"""The purchase API: buy (with an optional Idempotency-Key), list, read, cancel."""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
)
from rest_framework import generics, serializers
from rest_framework.response import Response

from payment.selectors import payments_by_purchase
from purchase import idempotency, selectors, services
from purchase.exceptions import PurchaseNotFound
from purchase.models import Purchase, WatchProgress
from vodstore.api import (
    ERROR_EXAMPLES,
    JSONTypes,
    error_example,
    error_responses,
    invalid_example,
    validated_query,
)
from vodstore.errors import DomainError
from vodstore.vocabulary import PaymentMethod

MAX_ID = 2**63 - 1

# --- Examples for the OpenAPI schema: what the API answers for the first film -----------

PURCHASE_EXAMPLE = {
    "id": 57,
    "vod": 1,
    "vod_title": "Alive!",
    "status": "paid",
    "payment_method": "card",
    "amount": 3500,
    "created_at": "2026-12-01T21:04:05.123456+09:00",
    "cancelled_at": None,
    "payment": {"id": 57, "status": "approved", "method": "card", "amount": 3500},
}
CANCELLED_EXAMPLE = {
    **PURCHASE_EXAMPLE,
    "status": "cancelled",
    "cancelled_at": "2026-12-01T21:30:11.654321+09:00",
    "payment": {**PURCHASE_EXAMPLE["payment"], "status": "cancelled"},
}
FREE_EXAMPLE = {
    **PURCHASE_EXAMPLE,
    "id": 58,
    "vod": 2,
    "vod_title": "ToBusan",
    "payment_method": "mileage",
    "amount": 5000,  # in points
    "payment": {"id": 58, "status": "approved", "method": "mileage", "amount": 5000},
}
THROTTLED_EXAMPLE = {
    "code": "throttled",
    "detail": "Too many purchases, please try again later.",
    "retry_after": 42,
}
NOT_CANCELLABLE = {
    "not_paid": "Only a paid purchase can be cancelled.",
    "refund_window_passed": "The refund window (7 days after buying) has passed.",
    "watched": ERROR_EXAMPLES[409]["not_cancellable"]["detail"],
}


class InvalidIdempotencyKey(DomainError):
    status_code = 400
    code = "invalid_idempotency_key"
    default_detail = "Idempotency-Key must be 1 to 255 printable ASCII characters."


class PaymentSummarySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    method = serializers.CharField()
    amount = serializers.IntegerField()


class PurchaseSerializer(serializers.ModelSerializer):
    vod = serializers.IntegerField(source="vod_id")
    payment = serializers.SerializerMethodField()

    class Meta:
        model = Purchase
        fields = [
            "id",
            "vod",
            "vod_title",
            "status",
            "payment_method",
            "amount",
            "created_at",
            "cancelled_at",
            "payment",
        ]

    @extend_schema_field(PaymentSummarySerializer(allow_null=True))
    def get_payment(self, purchase: Purchase) -> dict | None:
        payments = self.context.get("payments")
        if payments is None:
            payments = payments_by_purchase(purchase_ids=[purchase.id])
        info = payments.get(purchase.id)
        return PaymentSummarySerializer(info).data if info else None


class PurchaseCreateSerializer(JSONTypes, serializers.Serializer):
    vod = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    payment_method = serializers.ChoiceField(
        choices=PaymentMethod.choices, default=PaymentMethod.CARD
    )


class PurchaseQuery(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=Purchase.Status.values, required=False, help_text="Only purchases in this state."
    )


def _idempotency_key(request) -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not 0 < len(key) <= idempotency.MAX_KEY_LENGTH or not key.isascii() or not key.isprintable():
        raise InvalidIdempotencyKey()
    return key


# What may refuse a purchase, besides the errors any operation may answer
PURCHASE_REFUSALS = frozenset(
    {
        "payment_declined",
        "insufficient_mileage",
        "already_owned",
        "idempotency_in_progress",
        "idempotency_key_reused",
        "service_unavailable",
        "payment_unavailable",
    }
)


class PurchaseListCreateView(generics.GenericAPIView):
    """Your purchases, newest first; or buy a film (card by default, or 5000 points)."""

    name = _("Purchases")
    serializer_class = PurchaseCreateSerializer

    def get_serializer_class(self):
        return PurchaseCreateSerializer if self.request.method == "POST" else PurchaseSerializer

    def get_queryset(self):
        wanted = validated_query(self.request, PurchaseQuery).get("status")
        return selectors.purchase_list(user_id=self.request.user.id, status=wanted)

    @extend_schema(
        parameters=[PurchaseQuery],
        responses=PurchaseSerializer(many=True),
        examples=[OpenApiExample("Your purchases", value=PURCHASE_EXAMPLE, response_only=True)],
    )
    def get(self, request):
        page = self.paginate_queryset(self.get_queryset())
        payments = payments_by_purchase(purchase_ids=[p.id for p in page])
        data = PurchaseSerializer(page, many=True, context={"payments": payments}).data
        return self.get_paginated_response(data)

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                # 1 to 255 printable ASCII characters (no space at either end: HTTP drops it)
                pattern=r"^[!-~]([ -~]{0,253}[!-~])?$",
                description="Retrying with the same key replays the first answer.",
                examples=[
                    OpenApiExample(
                        "A new key for each purchase", value="4f7d2c1e-8b3a-4e6f-9d10-2a5b7c9e0f13"
                    )
                ],
            )
        ],
        responses={
            201: PurchaseSerializer,
            **error_responses(
                402,
                409,
                422,
                429,
                503,
                codes=PURCHASE_REFUSALS,
                examples={429: [error_example("throttled", THROTTLED_EXAMPLE)]},
            ),
        },
        examples=[
            OpenApiExample(
                "Buy with a card", value={"vod": 1, "payment_method": "card"}, request_only=True
            ),
            OpenApiExample(
                "Free with 5000 points",
                value={"vod": 2, "payment_method": "mileage"},
                request_only=True,
            ),
            OpenApiExample("Bought with a card", value=PURCHASE_EXAMPLE, response_only=True),
            OpenApiExample("Bought with points", value=FREE_EXAMPLE, response_only=True),
            invalid_example("invalid", {"vod": ["This field is required."]}),
            invalid_example(
                "vod_not_available",
                {"vod": ["No film on sale has this id."]},
                code="vod_not_available",
                detail="No film on sale has this id.",
            ),
        ],
    )
    def post(self, request):
        params = PurchaseCreateSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        outcome = services.purchase_buy(
            user_id=request.user.id,
            vod_id=params.validated_data["vod"],
            payment_method=params.validated_data["payment_method"],
            idempotency_key=_idempotency_key(request),
            describe=_purchase_data,
        )
        headers = {"Idempotent-Replayed": "true"} if outcome.replayed else {}
        return Response(outcome.body, status=outcome.status, headers=headers)


def _purchase_data(result: services.PurchaseResult) -> dict:
    """The answer to a purchase (stored and replayed for its Idempotency-Key)."""
    context = {"payments": {result.purchase.id: result.payment}}
    return PurchaseSerializer(result.purchase, context=context).data


class PurchaseDetailView(generics.RetrieveAPIView):
    """One of your purchases."""

    name = _("Purchase")
    serializer_class = PurchaseSerializer

    @extend_schema(
        examples=[OpenApiExample("A purchase", value=PURCHASE_EXAMPLE, response_only=True)]
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        return selectors.purchase_list(user_id=self.request.user.id)


class PurchaseCancelView(generics.GenericAPIView):
    """Cancel a paid purchase: its payment is refunded and its points reversed.

    Your own; anyone's for staff with the permission the admin's cancel asks for
    (`purchase.change_purchase`, as in the admin, which only staff enter). Being staff
    is not enough: someone else's purchase is then a 404, as for anyone."""

    name = _("Cancel a purchase")
    serializer_class = serializers.Serializer

    @extend_schema(
        request=None,
        responses={
            200: PurchaseSerializer,
            **error_responses(
                409,
                examples={
                    409: [
                        error_example(
                            reason,
                            {"code": "not_cancellable", "detail": detail, "reason": reason},
                        )
                        for reason, detail in NOT_CANCELLABLE.items()
                    ]
                },
            ),
        },
        examples=[OpenApiExample("Cancelled", value=CANCELLED_EXAMPLE, response_only=True)],
    )
    def post(self, request, pk: int):
        purchase = services.purchase_cancel(
            user_id=request.user.id,
            purchase_id=pk,
            as_staff=request.user.is_staff and request.user.has_perm("purchase.change_purchase"),
        )
        return Response(PurchaseSerializer(purchase).data)


class ProgressSerializer(serializers.Serializer):
    vod = serializers.IntegerField(source="purchase.vod_id")
    position_seconds = serializers.FloatField(help_text="Where to resume.")
    furthest_seconds = serializers.FloatField(
        help_text="How far the film has ever played (the refund rule reads it)."
    )
    duration_seconds = serializers.FloatField(allow_null=True, help_text="The feature's length.")
    updated_at = serializers.DateTimeField()


class ProgressUpdateSerializer(JSONTypes, serializers.Serializer):
    position_seconds = serializers.FloatField(min_value=0, max_value=10**6)


class ProgressListView(generics.ListAPIView):
    """Continue watching: your films started and not finished, most recently watched
    first."""

    name = _("Continue watching")
    serializer_class = ProgressSerializer

    def get_queryset(self):
        return selectors.continue_watching(user_id=self.request.user.id)


class ProgressDetailView(generics.GenericAPIView):
    """Where you are in a film you own (`PUT` saves it; the player does, now and then).
    A film you do not own is a 404."""

    name = _("Watch progress")
    serializer_class = ProgressSerializer

    def get_object(self) -> WatchProgress:
        """The progress in the film of the URL (an unsaved one at 0 when the owner has not
        started it); `PurchaseNotFound` (404) when the user does not own the film. (Also
        what DRF's OPTIONS answer asks for before it describes PUT.)"""
        user_id, vod_id = self.request.user.id, self.kwargs["vod_id"]
        try:
            progress = selectors.progress_of(user_id=user_id, vod_id=vod_id)
        except Purchase.DoesNotExist:
            raise PurchaseNotFound() from None
        if progress is None:  # owned, not started
            purchase = selectors.purchase_of_vod(user_id=user_id, vod_id=vod_id)
            progress = WatchProgress(purchase=purchase, updated_at=purchase.created_at)
        return progress

    @extend_schema(responses={200: ProgressSerializer})
    def get(self, request, vod_id: int):
        return Response(ProgressSerializer(self.get_object()).data)

    @extend_schema(request=ProgressUpdateSerializer, responses={200: ProgressSerializer})
    def put(self, request, vod_id: int):
        params = ProgressUpdateSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        progress = services.progress_save(
            user_id=request.user.id,
            vod_id=vod_id,
            position_seconds=params.validated_data["position_seconds"],
        )
        return Response(ProgressSerializer(progress).data)
