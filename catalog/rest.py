"""The catalog's JSON API: anyone reads, staff with `catalog.add_vod` add films."""

import django_filters
from rest_framework import filters, generics, serializers
from rest_framework.permissions import DjangoModelPermissionsOrAnonReadOnly

from catalog import selectors, services
from catalog.models import Genre, Vod


class VodSerializer(serializers.ModelSerializer):
    title = serializers.CharField(max_length=200, allow_blank=False, trim_whitespace=True)

    class Meta:
        model = Vod
        fields = [
            "id",
            "title",
            "synopsis",
            "genre",
            "release_year",
            "runtime_minutes",
            "price",
            "poster_url",
            "is_active",
            "created_at",
        ]
        read_only_fields = ["id", "created_at"]


class VodFilter(django_filters.FilterSet):
    genre = django_filters.ChoiceFilter(choices=Genre.choices)

    class Meta:
        model = Vod
        fields = ["genre"]


class VodListCreateView(generics.ListCreateAPIView):
    """List the films on sale (search by title, filter by genre, order), or add one."""

    serializer_class = VodSerializer
    permission_classes = [DjangoModelPermissionsOrAnonReadOnly]
    filter_backends = [
        django_filters.rest_framework.DjangoFilterBackend,
        filters.SearchFilter,
        filters.OrderingFilter,
    ]
    filterset_class = VodFilter
    search_fields = ["title"]
    ordering_fields = ["title", "release_year", "price", "runtime_minutes", "created_at"]
    ordering = ["-created_at", "-id"]

    def get_queryset(self):
        return selectors.vod_list()

    def perform_create(self, serializer):
        serializer.instance = services.vod_create(**serializer.validated_data)


class VodDetailView(generics.RetrieveAPIView):
    """One film on sale."""

    serializer_class = VodSerializer
    permission_classes = [DjangoModelPermissionsOrAnonReadOnly]

    def get_queryset(self):
        return selectors.vod_list()
