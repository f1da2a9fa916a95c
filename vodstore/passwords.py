"""Password rules beyond Django's own validators."""

import re

from django.contrib.auth.password_validation import CommonPasswordValidator
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

# What people append to a common word to pass a composition rule: "Welcome1!".
DECORATION = re.compile(r"^[\W\d_]*(?P<core>.*?)[\W\d_]*$", re.DOTALL)


class NotBlankValidator:
    """Refuse a password made only of white space."""

    def validate(self, password: str, user=None) -> None:
        if not password.strip():
            raise ValidationError(_("A password cannot be only spaces."), code="password_blank")

    def get_help_text(self) -> str:
        return _("Your password cannot be only spaces.")


class CommonWordPasswordValidator(CommonPasswordValidator):
    """Django's list of 20,000 common passwords, also when digits and symbols were
    added around one of them ("Welcome1!", "!!password2024")."""

    def validate(self, password: str, user=None) -> None:
        super().validate(password, user)
        core = DECORATION.match(password.strip()).group("core")
        if core != password.strip():
            super().validate(core, user)
