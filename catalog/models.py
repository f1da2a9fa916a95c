"""The catalog's data: films (VODs) offered in the store."""

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
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
