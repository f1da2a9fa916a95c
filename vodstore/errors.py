"""The project's domain error: every app's refusals subclass it, and the API's one
exception handler turns it into a status code and the one error body shape."""

from django.utils.translation import gettext_lazy


class DomainError(Exception):
    """A business rule refused the request. Subclasses set `status_code` and `code`,
    and what a person reads (`user_message`, or `message()` when it has figures)."""

    status_code = 400
    code = "invalid"
    # The API's `detail`: English whatever the request's language (clients read `code`).
    default_detail = "The request was refused."
    user_message = gettext_lazy("Your request could not be completed. Please try again.")

    def __init__(self, detail: str | None = None, **extra: object) -> None:
        self.detail = detail or self.default_detail
        self.extra = extra
        super().__init__(self.detail)

    def as_body(self) -> dict:
        """The API's error body for this refusal."""
        return {"code": self.code, "detail": str(self.detail), **self.extra}

    def message(self) -> str:
        """What the storefront shows for this refusal, in the active language. A
        refusal with a `retry_after` may say the wait: its `user_message` is then an
        `ngettext_lazy(..., "seconds")` naming `%(seconds)d`."""
        if "retry_after" in self.extra:
            return self.user_message % {"seconds": int(self.extra["retry_after"] or 1)}
        return str(self.user_message)

    @classmethod
    def from_body(cls, body: dict) -> "DomainError":
        """The refusal that answered `body` (`as_body()` stored, e.g. to replay it)."""
        extra = {k: v for k, v in body.items() if k not in ("code", "detail")}
        return cls(body.get("detail"), **extra)
