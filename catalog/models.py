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
        indexes = [
            models.Index(fields=["is_active", "-created_at", "-id"], name="vod_active_recent"),
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
