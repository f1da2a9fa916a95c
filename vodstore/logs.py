"""Logging helpers."""

import logging


class SkipExpectedRefusals(logging.Filter):
    """Drop django.request's error records for 503 and 429: the payment guard and the
    rate limit answer them on purpose (the guard logs its own state changes), and a
    busy hour would otherwise bury real server errors."""

    def filter(self, record: logging.LogRecord) -> bool:
        return getattr(record, "status_code", None) not in (429, 503)
