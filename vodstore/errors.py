"""The project's domain error: every app's refusals subclass it, and the API's one
exception handler turns it into a status code and the one error body shape."""


class DomainError(Exception):
    """A business rule refused the request. Subclasses set `status_code` and `code`."""

    status_code = 400
    code = "invalid"
    default_detail = "The request was refused."

    def __init__(self, detail: str | None = None, **extra: object) -> None:
        self.detail = detail or self.default_detail
        self.extra = extra
        super().__init__(self.detail)

    def as_body(self) -> dict:
        """The API's error body for this refusal."""
        return {"code": self.code, "detail": str(self.detail), **self.extra}
