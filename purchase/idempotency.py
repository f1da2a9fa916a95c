"""Idempotency keys for purchase requests: the same key from the same user replays
the first response without charging again.

A key is claimed by inserting its row before any work, so the unique constraint on
(user, key) decides between concurrent duplicates: exactly one request proceeds, the
others see the claim (409 while it runs, the stored response after)."""

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from purchase.exceptions import IdempotencyInProgress, IdempotencyKeyReused
from purchase.models import IdempotencyKey
from vodstore.errors import DomainError

MAX_KEY_LENGTH = 255
# How often a request waiting for the first one with its key looks again.
IN_PROGRESS_POLL_SECONDS = 0.2


@dataclass(frozen=True)
class Replay:
    status: int | None
    body: dict | None
    purchase_id: int | None


@dataclass(frozen=True)
class Outcome:
    """What to answer: the first response to this key, or a new one."""

    status: int
    body: dict
    replayed: bool


# Refusals that tell the client to come back later are not stored: the retry after
# the wait must be able to buy.
RETRYABLE = (429, 503)


def fingerprint(data: object) -> str:
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def request_key(*, user_id: int, key: str) -> str:
    """The name of a buyer's request for the payment service: a retry of a request
    whose process died resumes the same card authorization, never a new charge."""
    return f"{user_id}:{key}"


def _abandoned_cutoff():
    """A claim with no purchase and no answer older than this belongs to a request
    whose process died (or is stuck): a retry takes it over and resumes its payment.
    A little longer than a gateway call may last, so a buyer is not locked out for
    minutes; taking over a request that is still running is safe, because both
    resume the same authorization and only one purchase can commit."""
    return timezone.now() - timedelta(seconds=settings.IDEMPOTENCY_CLAIM_LEASE_SECONDS)


def _expiry_cutoff():
    return timezone.now() - timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS)


def idempotency_claim(*, user_id: int, key: str, request_fingerprint: str) -> int | Replay:
    """Claim `key` for a new request (returns the claim's id) or return what to replay.

    Raises `IdempotencyKeyReused` (another body) or `IdempotencyInProgress`."""
    for _ in range(2):
        try:
            with transaction.atomic():
                return IdempotencyKey.objects.create(
                    user_id=user_id, key=key, fingerprint=request_fingerprint
                ).id
        except IntegrityError:
            existing = IdempotencyKey.objects.filter(user_id=user_id, key=key).first()
        if existing is None:
            continue  # released between our insert and our read: claim again
        if existing.created_at < _expiry_cutoff() or (
            existing.purchase_id is None
            and existing.response_status is None
            and existing.created_at < _abandoned_cutoff()
        ):
            IdempotencyKey.objects.filter(pk=existing.pk, created_at=existing.created_at).delete()
            continue
        if existing.fingerprint != request_fingerprint:
            raise IdempotencyKeyReused()
        if existing.response_status is None and existing.purchase_id is None:
            raise IdempotencyInProgress(retry_after=1)
        return Replay(existing.response_status, existing.response_body, existing.purchase_id)
    raise IdempotencyInProgress(retry_after=1)


def idempotency_complete(*, claim_id: int, status: int, body: dict) -> None:
    """Store the response to replay for this key."""
    IdempotencyKey.objects.filter(pk=claim_id).update(response_status=status, response_body=body)


def idempotency_release(*, claim_id: int) -> None:
    """Forget a claim whose request may be retried as new (busy, throttled, crashed)."""
    IdempotencyKey.objects.filter(pk=claim_id, purchase_id__isnull=True).delete()


def idempotency_purge() -> int:
    """Delete keys older than the retention period; return how many."""
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=_expiry_cutoff()).delete()
    return deleted


def run_once(
    *,
    user_id: int,
    key: str,
    request_fingerprint: str,
    action: Callable[[int], dict],
    describe_purchase: Callable[[int], dict],
    wait_seconds: float = 0.0,
) -> Outcome:
    """Run `action(claim_id)` once for this key and store its answer; replay it after.

    `action` returns the 201 body or raises a `DomainError`, which is stored (and
    re-raised) unless retryable. `describe_purchase(purchase_id)` rebuilds the body
    of a purchase whose process stopped before its answer was stored. While the first
    request with this key is still running, wait up to `wait_seconds` for its answer
    (and replay it), then raise `IdempotencyInProgress`."""
    claim = _claim_waiting(
        user_id=user_id, key=key, request_fingerprint=request_fingerprint, wait_seconds=wait_seconds
    )
    if isinstance(claim, Replay):
        if claim.status is not None:
            return Outcome(claim.status, claim.body or {}, replayed=True)
        return Outcome(201, describe_purchase(claim.purchase_id), replayed=True)
    try:
        body = action(claim)
    except DomainError as exc:
        if exc.status_code in RETRYABLE:
            idempotency_release(claim_id=claim)
        else:
            idempotency_complete(claim_id=claim, status=exc.status_code, body=exc.as_body())
        raise
    except BaseException:
        idempotency_release(claim_id=claim)
        raise
    idempotency_complete(claim_id=claim, status=201, body=body)
    return Outcome(201, body, replayed=False)


def _claim_waiting(
    *, user_id: int, key: str, request_fingerprint: str, wait_seconds: float
) -> int | Replay:
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            return idempotency_claim(
                user_id=user_id, key=key, request_fingerprint=request_fingerprint
            )
        except IdempotencyInProgress:
            if time.monotonic() >= deadline:
                raise
            time.sleep(IN_PROGRESS_POLL_SECONDS)
