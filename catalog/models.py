"""The catalog's data: films (VODs) offered in the store."""

from django.core.files.storage import Storage, storages
from django.core.signals import setting_changed
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models, transaction
from django.db.models import Q
from django.db.models.signals import post_delete
from django.utils.functional import LazyObject, empty
from django.utils.translation import gettext_lazy as _

FIRST_FILM_YEAR = 1888  # Roundhay Garden Scene, the oldest surviving film


class Genre(models.TextChoices):
    ACTION = "action", _("Action")
    ANIMATION = "animation", _("Animation")
    COMEDY = "comedy", _("Comedy")
    DOCUMENTARY = "documentary", _("Documentary")
    DRAMA = "drama", _("Drama")
    FANTASY = "fantasy", _("Fantasy")
    HORROR = "horror", _("Horror")
    ROMANCE = "romance", _("Romance")
    SCI_FI = "sci-fi", _("Sci-fi")
    THRILLER = "thriller", _("Thriller")


class Vod(models.Model):
    """A film that can be browsed and bought."""

    title = models.CharField(_("title"), max_length=200)
    synopsis = models.TextField(_("synopsis"), blank=True)
    genre = models.CharField(_("genre"), max_length=20, choices=Genre.choices)
    release_year = models.PositiveSmallIntegerField(
        _("release year"),
        validators=[MinValueValidator(FIRST_FILM_YEAR), MaxValueValidator(2100)],
    )
    runtime_minutes = models.PositiveSmallIntegerField(
        _("runtime (minutes)"), validators=[MinValueValidator(1), MaxValueValidator(1000)]
    )
    price = models.PositiveIntegerField(
        _("price (KRW)"), validators=[MaxValueValidator(10_000_000)]
    )
    poster_url = models.URLField(_("poster URL"), max_length=500, blank=True)
    is_active = models.BooleanField(_("on sale"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("VOD")
        verbose_name_plural = _("VODs")
        ordering = ["-created_at", "-id"]
        # Partial indexes (films on sale only): smaller, and SQLite can use them for
        # the bare `WHERE "is_active"` Django writes, which it cannot match to an index
        # whose first column is is_active (100,000 films: page 1 took 97 ms, now 0.1 ms).
        # Ties go by id in the direction of the ordering, as the API's ordering adds it.
        # PostgreSQL also has a trigram index for title searches: migration 0003.
        indexes = [
            models.Index(
                fields=["-created_at", "-id"],
                condition=Q(is_active=True),
                name="vod_on_sale_recent",
            ),
            models.Index(
                fields=["genre", "-created_at", "-id"],
                condition=Q(is_active=True),
                name="vod_on_sale_genre",
            ),
            models.Index(
                fields=["price", "id"], condition=Q(is_active=True), name="vod_on_sale_price"
            ),
            models.Index(
                fields=["release_year", "id"], condition=Q(is_active=True), name="vod_on_sale_year"
            ),
            models.Index(
                fields=["runtime_minutes", "id"],
                condition=Q(is_active=True),
                name="vod_on_sale_runtime",
            ),
            models.Index(
                fields=["title", "id"], condition=Q(is_active=True), name="vod_on_sale_title"
            ),
            # The same orderings within a genre: without them a page of a small genre at
            # 100,000 films walks thousands of rows of the whole catalog's order (20 ms).
            *(
                models.Index(
                    fields=["genre", field, "id"],
                    condition=Q(is_active=True),
                    name=f"vod_on_sale_genre_{short}",
                )
                for field, short in (
                    ("price", "price"),
                    ("release_year", "year"),
                    ("runtime_minutes", "runtime"),
                    ("title", "title"),
                )
            ),
            # Counts (`WHERE "is_active"`, by genre): a small covering index SQLite scans
            # instead of the table (100,000 films: 14 ms -> 4 ms).
            models.Index(fields=["is_active", "genre", "-created_at"], name="vod_active_genre"),
            models.Index(fields=["title"], name="vod_title"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(price__gte=0), name="vod_price_not_negative"),
            models.CheckConstraint(
                condition=Q(release_year__gte=FIRST_FILM_YEAR) & Q(release_year__lte=2100),
                name="vod_release_year_plausible",
            ),
            models.CheckConstraint(condition=~Q(title=""), name="vod_title_not_empty"),
        ]

    def __str__(self) -> str:
        return f"{self.title} ({self.release_year})"


class _MediaStorage(LazyObject):
    """The "media" storage of `settings.STORAGES`, looked up when first used."""

    def _setup(self) -> None:
        self._wrapped = storages["media"]


_media_storage = _MediaStorage()


def _forget_media_storage(*, setting: str, **kwargs: object) -> None:
    # Only tests change settings at run time (override_settings): a new STORAGES must
    # give the field a new media storage, as Django does for its default storage.
    if setting in {"STORAGES", "MEDIA_ROOT"}:
        _media_storage._wrapped = empty


setting_changed.connect(_forget_media_storage, dispatch_uid="catalog-media-storage")


def media_storage() -> Storage:
    """Where films' media files live: `STORAGES["media"]` (a private directory, or a
    private S3 bucket), never served as public files."""
    return _media_storage


def media_upload_to(instance: "VodMedia", filename: str) -> str:
    return f"vods/{instance.vod_id}/{instance.kind}/{filename}"


class VodMedia(models.Model):
    """A film's feature or trailer: a video file in the media storage and its facts,
    read from the file itself."""

    class Kind(models.TextChoices):
        FEATURE = "feature", _("feature")
        TRAILER = "trailer", _("trailer")

    vod = models.ForeignKey(
        Vod, on_delete=models.CASCADE, related_name="media", verbose_name=_("VOD")
    )
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    file = models.FileField(
        _("file"), storage=media_storage, upload_to=media_upload_to, max_length=255
    )
    content_type = models.CharField(_("format"), max_length=100)
    duration_seconds = models.FloatField(_("duration (seconds)"))
    size_bytes = models.PositiveBigIntegerField(_("size (bytes)"))
    width = models.PositiveIntegerField(_("width"))
    height = models.PositiveIntegerField(_("height"))
    codec = models.CharField(_("codec"), max_length=50)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("media file")
        verbose_name_plural = _("media files")
        ordering = ["vod_id", "kind"]
        constraints = [
            models.UniqueConstraint(fields=["vod", "kind"], name="vodmedia_one_per_kind"),
            models.CheckConstraint(
                condition=Q(kind__in=["feature", "trailer"]), name="vodmedia_kind_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.file.name}"


def _delete_media_file(*, instance: VodMedia, **kwargs: object) -> None:
    # Every way a row goes (admin, a film's deletion, a queryset) takes its file along,
    # once the deletion is committed: a rolled-back deletion keeps the file it names.
    name = instance.file.name
    if name:
        transaction.on_commit(lambda: media_storage().delete(name))


post_delete.connect(_delete_media_file, sender=VodMedia, dispatch_uid="catalog-media-file-delete")
