"""The words the apps share: how a purchase is paid. One definition for the database
(choices and a check constraint), the API (its enum), the events' payloads, the
handlers and the templates. It lives here, not in payment, because mileage (below
payment) and the admin's shared pieces read it too, and they may not import payment."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class PaymentMethod(models.TextChoices):
    CARD = "card", _("Card")
    MILEAGE = "mileage", _("Mileage points")
