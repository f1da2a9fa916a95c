"""The mileage API: your balance and your ledger."""

from django.conf import settings
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import generics, serializers
from rest_framework.response import Response

from mileage.models import MileageEntry
from mileage.selectors import mileage_balance, mileage_entries

# After one film bought with a card (the OpenAPI schema's examples)
SUMMARY_EXAMPLE = {
    "balance": 1000,
    "free_vod_cost": 5000,
    "earn_per_purchase": 1000,
    "entries_url": "http://127.0.0.1:8000/api/mileage/entries/",
}
ENTRY_EXAMPLE = {
    "id": 12,
    "delta": 1000,
    "reason": "earned",
    "purchase": 57,
    "event_id": "0b8e6f4a-2c7d-4f19-8a3e-5d1c9b7e2f60",
    "created_at": "2026-12-01T21:04:05.234567+09:00",
}


class MileageSummarySerializer(serializers.Serializer):
    balance = serializers.IntegerField()
    free_vod_cost = serializers.IntegerField()
    earn_per_purchase = serializers.IntegerField()
    entries_url = serializers.URLField()


class MileageEntrySerializer(serializers.ModelSerializer):
    purchase = serializers.IntegerField(source="purchase_id")

    class Meta:
        model = MileageEntry
        fields = ["id", "delta", "reason", "purchase", "event_id", "created_at"]


class MileageSummaryView(generics.GenericAPIView):
    """Your balance, what a free film costs and what a purchase earns."""

    name = _("Mileage")
    serializer_class = MileageSummarySerializer

    @extend_schema(
        responses=MileageSummarySerializer,
        examples=[OpenApiExample("Your points", value=SUMMARY_EXAMPLE, response_only=True)],
    )
    def get(self, request):
        return Response(
            {
                "balance": mileage_balance(user_id=request.user.id),
                "free_vod_cost": settings.MILEAGE_FREE_VOD_COST,
                "earn_per_purchase": settings.MILEAGE_EARN_PER_PURCHASE,
                "entries_url": request.build_absolute_uri(reverse("mileage-entries")),
            }
        )


class MileageEntryListView(generics.ListAPIView):
    """Your ledger, newest first."""

    name = _("Mileage ledger")
    serializer_class = MileageEntrySerializer

    @extend_schema(
        examples=[OpenApiExample("Your ledger", value=ENTRY_EXAMPLE, response_only=True)]
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        return mileage_entries(user_id=self.request.user.id)
