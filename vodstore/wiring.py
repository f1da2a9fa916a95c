"""The event catalogue: every event type, who publishes it, its payload, its handlers and
how they run, and what becomes of an event nobody handles. The one place events are
wired; like `vodstore/urls.py` it is a composition root, so it may import the apps.

`wire()` (called once, from `VodstoreConfig.ready`) checks the table and subscribes every
handler; the broker's queues and bindings follow from what it subscribed (one queue per
handler's app, bound to the event types that app handles). A handler reads its event's
payload by key, never the producer's modules: `reads` names the keys, checked at start-up
against the producer's dataclass and, by `tests/test_event_catalogue.py`, against the
handler's code.
"""

import dataclasses
import sys
from collections.abc import Iterable

from django.apps import apps
from django.core.exceptions import ImproperlyConfigured

from catalog.events import VodRegistered
from mileage import handlers as mileage_handlers
from mileage.events import MileageChanged
from payment import handlers as payment_handlers
from payment.events import PaymentApproved, PaymentCancelled
from purchase import handlers as purchase_handlers
from purchase.events import VodPurchaseCancelled, VodPurchased
from vodstore import events
from vodstore.events import Event, Handler, Unsubscribed

AUDIT_ONLY = Unsubscribed.AUDIT_ONLY


@dataclasses.dataclass(frozen=True)
class Subscription:
    """A handler of one event type, the payload keys it reads, and how it runs (see
    `vodstore.events.subscribe`)."""

    handler: Handler
    reads: tuple[str, ...]
    atomic: bool = True
    deferred: bool = False

    @property
    def name(self) -> str:
        return events.handler_name(self.handler)

    @property
    def group(self) -> str:
        return events.group_of(self.handler)


@dataclasses.dataclass(frozen=True)
class Entry:
    """One event type: its producer's dataclass, the module that publishes it, and its
    handlers, or (none) what becomes of it."""

    event: type[Event]
    published_in: str
    handlers: tuple[Subscription, ...] = ()
    unsubscribed: Unsubscribed | None = None

    @property
    def type(self) -> str:
        return self.event.type

    @property
    def producer(self) -> str:
        return self.event.__module__.split(".", 1)[0]

    @property
    def payload(self) -> tuple[str, ...]:
        return tuple(field.name for field in dataclasses.fields(self.event))


CATALOGUE: tuple[Entry, ...] = (
    # The catalog's read cache follows the model's signals instead: they also see admin
    # edits, withdrawals and deletions.
    Entry(VodRegistered, "catalog.services", unsubscribed=AUDIT_ONLY),
    Entry(
        VodPurchased,
        "purchase.services",
        handlers=(
            # Not atomic: it waits on the mail server, which must never happen while
            # holding the database write lock; the receipt's claim makes it send once.
            # Deferred: the buyer's answer never waits on the mail server (the worker
            # sends it, or the purchase group's consumer in broker mode).
            Subscription(
                purchase_handlers.send_receipt_on_vod_purchased,
                reads=("purchase_id",),
                atomic=False,
                deferred=True,
            ),
        ),
    ),
    Entry(
        VodPurchaseCancelled,
        "purchase.services",
        handlers=(
            # Not atomic: it calls the gateway, which must never happen while holding the
            # database write lock; payment_cancel is idempotent by itself.
            Subscription(
                payment_handlers.cancel_on_purchase_cancelled,
                reads=("purchase_id",),
                atomic=False,
            ),
        ),
    ),
    Entry(
        PaymentApproved,
        "payment.services",
        handlers=(
            Subscription(
                mileage_handlers.earn_on_payment_approved,
                reads=("method", "amount", "user_id", "purchase_id"),
            ),
        ),
    ),
    Entry(
        PaymentCancelled,
        "payment.services",
        handlers=(
            Subscription(
                mileage_handlers.reverse_on_payment_cancelled,
                reads=("method", "amount", "user_id", "purchase_id"),
            ),
        ),
    ),
    Entry(MileageChanged, "mileage.services", unsubscribed=AUDIT_ONLY),
)


def problems(catalogue: Iterable[Entry] = CATALOGUE) -> list[str]:
    """What is wrong with the catalogue, in words (nothing: an empty list)."""
    found: list[str] = []
    seen: set[str] = set()
    for entry in catalogue:
        if entry.type in seen:
            found.append(f"{entry.type} is catalogued twice")
        seen.add(entry.type)
        if entry.event.__module__ != f"{entry.producer}.events":
            found.append(f"{entry.type} is not in its app's events module")
        if not entry.published_in.startswith(f"{entry.producer}."):
            found.append(f"{entry.type} is published outside {entry.producer}, its owner")
        if not entry.handlers and entry.unsubscribed is None:
            found.append(f"{entry.type} has no handler and no policy for having none")
        if entry.handlers and entry.unsubscribed is not None:
            found.append(f"{entry.type} has handlers and a policy for having none")
        names = [subscription.name for subscription in entry.handlers]
        if len(set(names)) != len(names):
            found.append(f"{entry.type} lists a handler twice")
        for subscription in entry.handlers:
            unknown = sorted(set(subscription.reads) - set(entry.payload))
            if unknown:
                found.append(
                    f"{subscription.name} reads {', '.join(unknown)}, which "
                    f"{entry.type}'s payload has not ({', '.join(entry.payload)})"
                )
            handler = subscription.handler
            module = sys.modules.get(handler.__module__)
            if getattr(module, handler.__qualname__, None) is not handler:
                # Its qualified name keys its delivery records: it must name this function.
                found.append(f"{subscription.name} is not a module-level function")
    for event in _app_event_classes():
        if event.type not in seen:
            found.append(f"{event.type} ({event.__module__}) is not in the catalogue")
    return found


def _app_event_classes() -> list[type[Event]]:
    """Every event type the installed apps' events modules define."""
    modules = {f"{config.name}.events" for config in apps.get_app_configs()}
    found, todo = [], list(Event.__subclasses__())
    while todo:
        event = todo.pop()
        todo.extend(event.__subclasses__())
        if event.__module__ in modules:
            found.append(event)
    return sorted(found, key=lambda event: event.type)


def wire(catalogue: Iterable[Entry] = CATALOGUE) -> None:
    """Check the catalogue and subscribe every handler as it says (once, at start-up)."""
    catalogue = tuple(catalogue)
    wrong = problems(catalogue)
    if wrong:
        raise ImproperlyConfigured(
            "The event catalogue (vodstore/wiring.py) does not hold:\n- " + "\n- ".join(wrong)
        )
    for entry in catalogue:
        if entry.unsubscribed is not None:
            events.declare_unsubscribed(entry.type, entry.unsubscribed)
        for subscription in entry.handlers:
            events.subscribe(
                entry.type,
                subscription.handler,
                atomic=subscription.atomic,
                deferred=subscription.deferred,
            )


def routes(catalogue: Iterable[Entry] = CATALOGUE) -> dict[str, list[str]]:
    """The broker's routing the catalogue makes: each consuming app (its queue), with
    the event types bound to it, sorted (as `vodstore.events.groups()` reads it)."""
    found: dict[str, set[str]] = {}
    for entry in catalogue:
        for subscription in entry.handlers:
            found.setdefault(subscription.group, set()).add(entry.type)
    return {group: sorted(types) for group, types in sorted(found.items())}


def _how(subscription: Subscription) -> str:
    ways = ["atomic" if subscription.atomic else "not atomic (own transactions)"]
    if subscription.deferred:
        ways.append("deferred to the worker")
    return ", ".join(ways)


def _code(names: Iterable[str]) -> str:
    return ", ".join(f"`{name}`" for name in names)


def markdown(catalogue: Iterable[Entry] = CATALOGUE) -> str:
    """The catalogue as a Markdown table (docs/how-it-works.md, "Events", shows it)."""
    lines = [
        "| event | published in | payload | handled by (broker queue) | reads | runs |",
        "|---|---|---|---|---|---|",
    ]
    for entry in catalogue:
        head = f"| `{entry.type}` | `{entry.published_in}` | {_code(entry.payload)} |"
        if not entry.handlers:
            policy = entry.unsubscribed
            lines.append(f"{head} nobody: `{policy.name}` ({policy.value}) | | |")
        for subscription in entry.handlers:
            lines.append(
                f"{head} `{subscription.name}` ({subscription.group}) "
                f"| {_code(subscription.reads)} | {_how(subscription)} |"
            )
    return "\n".join(lines) + "\n"
