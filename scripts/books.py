"""The books: what the drills check after breaking the store, each a function of the
store's own records (and, where a drill has them, what its buyers were told and the card
processor's ledger). Run inside the store (`runner.in_store(env, "books.drill", ...)`);
the tests call the same functions against stores they made and spoiled.

An auditor reads every app's records, so this is the one place outside the apps that
reads their models; the rules it checks come from the settings (the points a purchase
earns, the price of a free film), never from numbers written here.
"""

import re
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.db.models import Count, Sum

from mileage.models import MileageAccount, MileageEntry
from payment.models import Operation, Payment
from payment.reconcile import payments_check
from purchase.models import Purchase, Receipt
from vodstore.events import handler_name, handlers_for
from vodstore.models import EventDelivery, GroupRetry, OutboxEvent
from vodstore.vocabulary import PaymentMethod

PAID, CANCELLED = Purchase.Status.PAID, Purchase.Status.CANCELLED
Reason = MileageEntry.Reason


def _purchases() -> dict[int, dict]:
    fields = ("id", "user_id", "vod_id", "status", "payment_method", "amount")
    return {p["id"]: p for p in Purchase.objects.values(*fields)}


def points_wanted(purchase: dict) -> dict[str, int]:
    """The ledger entries a purchase must have, by reason, with their points: a card
    purchase of money earns (and gives them back when cancelled); one paid with points
    spends the free film's price (returned when cancelled); a film of ₩0 earns nothing."""
    earn, cost = settings.MILEAGE_EARN_PER_PURCHASE, settings.MILEAGE_FREE_VOD_COST
    cancelled = purchase["status"] == CANCELLED
    if purchase["payment_method"] == PaymentMethod.MILEAGE:
        wanted = {Reason.SPENT: -cost, Reason.REFUNDED: cost}
        return wanted if cancelled else {Reason.SPENT: -cost}
    if purchase["amount"] <= 0:
        return {}
    wanted = {Reason.EARNED: earn, Reason.CLAWED_BACK: -earn}
    return wanted if cancelled else {Reason.EARNED: earn}


def points() -> dict[str, list[str]]:
    """Every purchase against its ledger entries: {"lost": [...], "doubled": [...]}.
    An entry missing is lost points; an entry that should not be there, or of the wrong
    size, or of a purchase that does not exist, is points counted twice."""
    purchases = _purchases()
    entries: dict[int, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for purchase_id, reason, delta in MileageEntry.objects.values_list(
        "purchase_id", "reason", "delta"
    ):
        entries[purchase_id][reason].append(delta)
    lost, doubled = [], []
    for purchase in purchases.values():
        wanted, got = points_wanted(purchase), entries.get(purchase["id"], {})
        where = f"purchase {purchase['id']} ({purchase['payment_method']}, {purchase['status']})"
        for reason in sorted(set(wanted) | set(got)):
            deltas = got.get(reason, [])
            if reason in wanted and not deltas:
                lost.append(f"{where}: no {reason} entry")
            elif reason not in wanted or len(deltas) > 1:
                doubled.append(f"{where}: {reason} {deltas}, expected {wanted.get(reason)}")
            elif deltas[0] != wanted[reason]:
                doubled.append(f"{where}: {reason} {deltas[0]:+d}, expected {wanted[reason]:+d}")
    doubled += [
        f"entries of unknown purchase {p}: {dict(by_reason)}"
        for p, by_reason in entries.items()
        if p not in purchases
    ]
    return {"lost": lost, "doubled": doubled}


def ledgers() -> list[str]:
    """The accounts whose balance is not the sum of their ledger."""
    return [
        f"account {a.pk}: balance {a.balance}, ledger {a.total or 0}"
        for a in MileageAccount.objects.annotate(total=Sum("entries__delta")).order_by("pk")
        if a.balance != (a.total or 0)
    ]


def payments() -> list[str]:
    """Every paid purchase has its approved payment of its amount, in its method; a
    cancelled one has none left approved; no payment is of a purchase that does not exist."""
    purchases = _purchases()
    found = []
    by_purchase = {p["purchase_id"]: p for p in Payment.objects.values()}
    for purchase in purchases.values():
        payment = by_purchase.get(purchase["id"])
        where = f"purchase {purchase['id']} ({purchase['status']})"
        if payment is None:
            found.append(f"{where}: no payment")
        elif purchase["status"] == PAID and payment["status"] != Payment.Status.APPROVED:
            found.append(f"{where}: its payment is {payment['status']}")
        elif purchase["status"] == CANCELLED and payment["status"] == Payment.Status.APPROVED:
            found.append(f"{where}: its payment is still approved")
        elif payment["method"] != purchase["payment_method"]:
            found.append(f"{where}: paid by {payment['method']}")
        elif payment["method"] == PaymentMethod.CARD and payment["amount"] != purchase["amount"]:
            found.append(f"{where}: ₩{purchase['amount']} paid as ₩{payment['amount']}")
    found += [f"payment of unknown purchase {p}" for p in by_purchase if p not in purchases]
    return found


def events() -> list[str]:
    """Events some handler has not run for: still pending, failed, or published to the
    broker with a handler's delivery record missing."""
    found = []
    for row in OutboxEvent.objects.exclude(status=OutboxEvent.Status.DELIVERED).prefetch_related(
        "deliveries"
    ):
        done = {d.handler for d in row.deliveries.all()}
        missing = [handler_name(h) for h in handlers_for(row.type) if handler_name(h) not in done]
        if missing or row.status != OutboxEvent.Status.PUBLISHED:
            found.append(f"event {row.id} {row.type} {row.status}: missing {missing}")
    found += [
        f"{n} retries of {group} not done"
        for group, n in Counter(
            GroupRetry.objects.exclude(status=GroupRetry.Status.DONE).values_list(
                "group", flat=True
            )
        ).items()
    ]
    return found


def _kept(charge: dict) -> bool:  # money the processor holds or has taken, not given back
    if charge["amount"] <= 0:
        return False
    return charge["status"] == "authorized" or (
        charge["status"] == "captured" and charge["refunded"] < charge["amount"]
    )


def charges(ledger: list[dict]) -> dict[str, list[str]]:
    """The store against the card processor's own ledger (its charges): money kept for no
    paid purchase (orphan charges), one buyer charged twice for a film, a charge refunded
    twice, a paid card purchase whose charge is not captured in full."""
    purchases = _purchases()
    by_reference = {c["reference"]: c for c in ledger}
    pays = list(
        Payment.objects.values("purchase_id", "method", "amount", "status", "gateway_reference")
    )
    payment_of = {p["purchase_id"]: p for p in pays}
    in_use = {
        p["gateway_reference"]
        for p in pays
        if p["status"] == Payment.Status.APPROVED
        and p["gateway_reference"]
        and purchases.get(p["purchase_id"], {}).get("status") == PAID
    }
    holders = defaultdict(list)
    for p in pays:
        charge, purchase = by_reference.get(p["gateway_reference"]), purchases.get(p["purchase_id"])
        if charge and purchase and _kept(charge):
            holders[(purchase["user_id"], purchase["vod_id"])].append(charge["reference"])
    without_charge = []
    for purchase in purchases.values():
        payment = payment_of.get(purchase["id"]) or {}
        if purchase["status"] != PAID or payment.get("method") != PaymentMethod.CARD:
            continue
        charge = by_reference.get(payment["gateway_reference"])
        if payment["amount"] > 0 and (
            charge is None or charge["status"] != "captured" or charge["refunded"]
        ):
            state = (
                "none" if charge is None else f"{charge['status']}, refunded {charge['refunded']}"
            )
            without_charge.append(f"purchase {purchase['id']} (charge: {state})")
    return {
        "orphan_charges": [
            f"charge {r}" for r, c in by_reference.items() if _kept(c) and r not in in_use
        ],
        "double_charges": [
            f"user {u} film {v}" for (u, v), refs in holders.items() if len(refs) > 1
        ],
        "double_refunds": [f"charge {r}" for r, c in by_reference.items() if c["refunds"] > 1],
        "paid_without_charge": without_charge,
    }


def told(*, paid: list[int], cancelled: list[int], cancel_sent: list[int]) -> list[str]:
    """What buyers were told against the books: every purchase answered 201 exists and
    was cancelled only if someone asked; every cancel answered 200 is cancelled."""
    status = dict(Purchase.objects.values_list("id", "status"))
    asked = set(cancel_sent)
    found = []
    for pid in paid:
        if pid not in status:
            found.append(f"201 for purchase {pid}, which does not exist")
        elif status[pid] == CANCELLED and pid not in asked:
            found.append(f"201 for purchase {pid}, cancelled though nobody asked")
    found += [
        f"200 cancel of purchase {pid}, which is not cancelled"
        for pid in cancelled
        if status.get(pid) != CANCELLED
    ]
    return found


def receipts(*, mail_dir: str) -> dict:
    """The receipts the mail backend wrote (one file a message): how many, those of a
    purchase mailed twice, and the receipts claimed and not sent."""
    mailed = Counter()
    for path in Path(mail_dir).glob("*"):
        mailed.update(int(n) for n in re.findall(r"Receipt number: #([0-9]+)", path.read_text()))
    return {
        "mailed": sum(mailed.values()),
        "twice": sorted(p for p, n in mailed.items() if n > 1),
        "claimed": Receipt.objects.count(),
        "unsent": Receipt.objects.filter(sent_at__isnull=True).count(),
    }


def problems() -> list[str]:
    """Everything the store's own records must agree on: points, balances, payments."""
    found = points()
    return [*found["lost"], *found["doubled"], *ledgers(), *payments()]


# --- what each drill asks -------------------------------------------------------------


def drill(*, created: int) -> dict:
    """`make drill`: the purchases against the 201s (`created`), the books, the events,
    the simulated gateway's ledger (after the reconciler took what the stop left)."""
    found = points()
    return {
        "created_201": created,
        "purchases": Purchase.objects.count(),
        "paid": Purchase.objects.filter(status=PAID).count(),
        "approved_payments": Payment.objects.filter(status=Payment.Status.APPROVED).count(),
        "payment_problems": len(payments()),
        "points_lost": len(found["lost"]),
        "points_doubled": len(found["doubled"]),
        "accounts_whose_balance_differs_from_ledger": len(ledgers()),
        "events_undelivered": len(events()),
        "disagreements_with_the_gateway": len(payments_check(grace_seconds=0)),
    }


def faults(
    *, ledger: list[dict], paid: list[int], cancelled: list[int], cancel_sent: list[int]
) -> dict:
    """`make faults`, after a phase has settled: every discrepancy as a string, by kind,
    so that a phase reports only those the phases before it had not; and a summary."""
    found, against_processor = points(), charges(ledger)
    # a paid purchase without its approved payment (or a cancelled one keeping it) is
    # money the books no longer explain, whatever the processor holds
    against_processor["paid_without_charge"] += payments()
    events_by_status = Counter(OutboxEvent.objects.values_list("status", flat=True))
    return {
        "found": {
            **against_processor,
            "points": [*found["lost"], *found["doubled"], *ledgers()],
            "told": told(paid=paid, cancelled=cancelled, cancel_sent=cancel_sent),
        },
        "summary": {
            "purchases": dict(Counter(Purchase.objects.values_list("status", flat=True))),
            "charges": dict(Counter(c["status"] for c in ledger)),
            "unused_charges": len(
                {c["reference"] for c in ledger}
                - set(
                    Payment.objects.exclude(gateway_reference="").values_list(
                        "gateway_reference", flat=True
                    )
                )
            ),
            "events_waiting": events_by_status[OutboxEvent.Status.PENDING],
            "events_failed": events_by_status[OutboxEvent.Status.FAILED],
        },
    }


def progress() -> dict:
    """How far the handlers got (the broker drill drains and times with it)."""
    events_of = dict(OutboxEvent.objects.values_list("type").annotate(n=Count("id")))

    def done_by(app: str) -> int:
        return EventDelivery.objects.filter(handler__startswith=f"{app}.").count()

    return {
        "pending": OutboxEvent.objects.filter(status=OutboxEvent.Status.PENDING).count(),
        "approved": events_of.get("PaymentApproved", 0),
        "cancelled": events_of.get("PaymentCancelled", 0),
        "purchase_cancelled": events_of.get("VodPurchaseCancelled", 0),
        "purchased": events_of.get("VodPurchased", 0),
        "mileage_done": done_by("mileage"),
        "payment_done": done_by("payment"),
        "purchase_done": done_by("purchase"),
        "retrying": GroupRetry.objects.exclude(status=GroupRetry.Status.DONE).count(),
    }


def _latencies(window: list[str]) -> list[float]:
    """Seconds from each event in the window (two ISO times) to each handler's run."""
    start, end = (datetime.fromisoformat(moment) for moment in window)
    return sorted(
        (d.delivered_at - d.event.occurred_at).total_seconds()
        for d in EventDelivery.objects.select_related("event").filter(
            event__occurred_at__gte=start, event__occurred_at__lte=end
        )
    )


def broker(*, calm: list[str], chaos: list[str], mail_dir: str) -> dict:
    """`make broker-drill`: every event's every handler ran once (a missing run: lost;
    points or a refund or a receipt twice: doubled); balances; delivery latencies."""
    found = points()
    undelivered = events()
    mail = receipts(mail_dir=mail_dir)
    refunded_twice = [
        f"authorization {a}: refunded {n} times"
        for a, n in Counter(
            Operation.objects.filter(kind=Operation.Kind.REFUND).values_list(
                "authorization_id", flat=True
            )
        ).items()
        if n > 1
    ]
    twice = [f"receipt of purchase {p} mailed twice" for p in mail["twice"]]
    unbalanced = ledgers()
    doubled = [*found["doubled"], *refunded_twice, *twice]
    return {
        "lost": len(found["lost"]) + len(undelivered),
        "doubled": len(doubled),
        "problems": [*found["lost"], *undelivered, *doubled, *unbalanced][:20],
        "unbalanced": len(unbalanced),
        "purchases": Purchase.objects.count(),
        "cancelled": Purchase.objects.filter(status=CANCELLED).count(),
        "events": OutboxEvent.objects.count(),
        "deliveries": EventDelivery.objects.count(),
        "calm": _latencies(calm),
        "chaos": _latencies(chaos),
        "mailed": mail["mailed"],
        "claimed": mail["claimed"],
        "unsent": mail["unsent"],
    }


# what `python -m scripts.in_store books.NAME` may run
TASKS = ("drill", "faults", "broker", "progress")
