"""The mileage API: your balance and your ledger."""

from django.conf import settings
from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers
from rest_framework.response import Response

from mileage.models import MileageEntry
from mileage.selectors import mileage_balance, mileage_entries


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

    serializer_class = MileageSummarySerializer

    @extend_schema(responses=MileageSummarySerializer)
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

    serializer_class = MileageEntrySerializer

    def get_queryset(self):
        return mileage_entries(user_id=self.request.user.id)
