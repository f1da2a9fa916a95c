"""E-mailed purchase receipts: claimed once per purchase, then sent to the buyer."""

import logging

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation

from payment.selectors import payments_by_purchase
from purchase.models import Purchase, Receipt

logger = logging.getLogger(__name__)


def _message(purchase: Purchase, email: str) -> EmailMessage:
    payment = payments_by_purchase(purchase_ids=[purchase.pk]).get(purchase.pk)
    context = {
        "purchase": purchase,
        "payment": payment,
        "username": purchase.user.get_username(),
        "url": settings.SITE_URL + reverse("purchase:detail", args=[purchase.pk]),
    }
    # The buyer's language is not stored: the store's own.
    with translation.override(settings.LANGUAGE_CODE):
        subject = render_to_string("emails/purchase_receipt_subject.txt", context)
        body = render_to_string("emails/purchase_receipt.txt", context)
    return EmailMessage(subject=" ".join(subject.split()), body=body, to=[email])


def receipt_send(*, purchase_id: int) -> bool:
    """E-mail the receipt of a purchase to its buyer, at most once; return whether it
    was sent now. Buyers without an address (or closed accounts) get none.

    The receipt row is claimed (inserted, the purchase its primary key) in a
    transaction of its own before the message is sent, and nobody sends without the
    claim: a redelivered event finds it and sends nothing. If sending fails, the claim
    is given back and the error raised, so the event bus retries later. If the process
    dies between the claim and the send, the claim stays with `sent_at` empty and that
    receipt is never sent: we prefer a missing receipt (the purchase page shows it) to
    a double one. Never call it inside a transaction: it waits on the mail server."""
    purchase = Purchase.objects.select_related("user").get(pk=purchase_id)
    email = purchase.user.email
    if not email or not purchase.user.is_active:
        return False
    message = _message(purchase, email)
    try:
        with transaction.atomic():
            Receipt.objects.create(purchase_id=purchase_id, email=email)
    except IntegrityError:
        return False  # sent already, being sent, or lost in a crash (see above)
    try:
        message.send()
    except Exception:
        Receipt.objects.filter(purchase_id=purchase_id, sent_at__isnull=True).delete()
        raise
    Receipt.objects.filter(purchase_id=purchase_id).update(sent_at=timezone.now())
    logger.info("receipt of purchase %s sent", purchase_id)
    return True
