"""The payment API: your payments, read-only."""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import generics, serializers

from payment.models import Payment
from payment.selectors import payment_list
from vodstore.api import WholeNumberField, validated_query

MAX_ID = 2**63 - 1

# The payment of the first film bought with a card (the OpenAPI schema's example)
PAYMENT_EXAMPLE = {
    "id": 57,
    "purchase": 57,
    "method": "card",
    "amount": 3500,
    "status": "approved",
    "gateway_reference": "sim_5c0e9a7b3f2d4e18a6b1c9d0e2f47a35",
    "approved_at": "2026-12-01T21:04:05.098765+09:00",
    "cancelled_at": None,
}


class PaymentSerializer(serializers.ModelSerializer):
    purchase = serializers.IntegerField(source="purchase_id")

    class Meta:
        model = Payment
        fields = [
            "id",
            "purchase",
            "method",
            "amount",
            "status",
            "gateway_reference",
            "approved_at",
            "cancelled_at",
        ]


class PaymentQuery(serializers.Serializer):
    purchase = WholeNumberField(
        min_value=1, max_value=MAX_ID, required=False, help_text="Only this purchase's payments."
    )


class PaymentListView(generics.ListAPIView):
    """Your payments, newest first; `?purchase=` for one purchase's."""

    name = _("Payments")
    serializer_class = PaymentSerializer

    # (on the method: `@extend_schema` on a class fixes its schema class when the module
    # is imported, so a DEFAULT_SCHEMA_CLASS set later would not apply to it)
    @extend_schema(
        parameters=[PaymentQuery],
        examples=[OpenApiExample("Your payments", value=PAYMENT_EXAMPLE, response_only=True)],
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        query = validated_query(self.request, PaymentQuery)
        return payment_list(user_id=self.request.user.id, purchase_id=query.get("purchase"))


class PaymentDetailView(generics.RetrieveAPIView):
    """One of your payments."""

    name = _("Payment")
    serializer_class = PaymentSerializer

    @extend_schema(
        examples=[OpenApiExample("A card payment", value=PAYMENT_EXAMPLE, response_only=True)]
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        return payment_list(user_id=self.request.user.id)
