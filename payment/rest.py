"""The payment API: your payments, read-only."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers

from payment.models import Payment
from payment.selectors import payment_list
from vodstore.api import InvalidQuery

MAX_ID = 2**63 - 1


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


@extend_schema(parameters=[OpenApiParameter("purchase", int)])
class PaymentListView(generics.ListAPIView):
    """Your payments, newest first; `?purchase=` for one purchase's."""

    serializer_class = PaymentSerializer

    def get_queryset(self):
        raw = self.request.query_params.get("purchase")
        purchase_id = None
        if raw:
            if not raw.isdigit() or int(raw) > MAX_ID:
                raise InvalidQuery(errors={"purchase": ["A purchase id (a whole number)."]})
            purchase_id = int(raw)
        return payment_list(user_id=self.request.user.id, purchase_id=purchase_id)


class PaymentDetailView(generics.RetrieveAPIView):
    """One of your payments."""

    serializer_class = PaymentSerializer

    def get_queryset(self):
        return payment_list(user_id=self.request.user.id)
