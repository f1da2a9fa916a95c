"""The two films the original store opened with, present from the first migrate."""

from django.db import migrations

ORIGINAL_FILMS = [
    {
        "title": "Alive!",
        "synopsis": (
            "A young gamer wakes up to find his apartment block overrun by an infection "
            "that turns people violent. Cut off from his family and running out of food "
            "and water, he has to find a way to stay alive."
        ),
        "genre": "horror",
        "release_year": 2020,
        "runtime_minutes": 98,
        "price": 3500,
    },
    {
        "title": "ToBusan",
        "synopsis": (
            "A fund manager and his young daughter board the express train from Seoul to "
            "Busan just as a viral outbreak sweeps the country. Passengers must fight "
            "their way through the carriages to reach the last safe city."
        ),
        "genre": "action",
        "release_year": 2016,
        "runtime_minutes": 118,
        "price": 4500,
    },
]


def add_original_films(apps, schema_editor):
    Vod = apps.get_model("catalog", "Vod")
    for film in ORIGINAL_FILMS:
        Vod.objects.get_or_create(title=film["title"], defaults=film)


def remove_original_films(apps, schema_editor):
    Vod = apps.get_model("catalog", "Vod")
    Vod.objects.filter(title__in=[film["title"] for film in ORIGINAL_FILMS]).delete()


class Migration(migrations.Migration):
    dependencies = [("catalog", "0001_initial")]

    operations = [migrations.RunPython(add_original_films, remove_original_films)]
