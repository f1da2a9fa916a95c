"""Mileage refusals, each with what the buyer reads (translated) beside the API's
English `detail`."""

from django.conf import settings
from django.utils.translation import gettext

from vodstore.errors import DomainError
from vodstore.formatting import points


class InsufficientMileage(DomainError):
    """`required` and `balance`: the points a free film needs and those the buyer has."""

    status_code = 402
    code = "insufficient_mileage"
    default_detail = "Not enough mileage points for a free film."

    def message(self) -> str:
        return gettext(
            "Not enough points: a free film needs %(required)s and you have %(balance)s."
        ) % {
            "required": points(self.extra.get("required", settings.MILEAGE_FREE_VOD_COST)),
            "balance": points(self.extra.get("balance", 0)),
        }
