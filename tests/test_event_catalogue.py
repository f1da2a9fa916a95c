"""The event catalogue (vodstore/wiring.py) against the code: every published event is in
it, published where it says; every handler reads exactly the payload keys it declares,
and they are in the producer's dataclass; every catalogued handler is subscribed as
declared; the broker's routing is the catalogue's; an event nobody handles is dealt with
by its declared policy, and one without is refused; the docs show the current table."""

import ast
import dataclasses
import inspect
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction

from mileage.events import MileageChanged
from payment.events import PaymentApproved
from vodstore import broker, events, wiring
from vodstore.models import OutboxEvent

ROOT = Path(__file__).resolve().parent.parent
CODE = ("catalog", "purchase", "payment", "mileage", "vodstore", "scripts")
SUBSCRIPTIONS = [
    pytest.param(entry, subscription, id=subscription.name)
    for entry in wiring.CATALOGUE
    for subscription in entry.handlers
]


@dataclasses.dataclass(frozen=True)
class CatalogueTestUndeclared(events.Event):
    n: int


@dataclasses.dataclass(frozen=True)
class CatalogueTestRenamed(events.Event):
    """PaymentApproved after its producer renamed `method`."""

    payment_id: int
    purchase_id: int
    user_id: int
    payment_method: str
    amount: int


# --- Reading the code ----------------------------------------------------------------------


def _is_payload(node: ast.AST) -> bool:
    """`event.payload`, or a helper's parameter named `payload`."""
    return (isinstance(node, ast.Attribute) and node.attr == "payload") or (
        isinstance(node, ast.Name) and node.id == "payload"
    )


def _key(node: ast.AST) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def payload_reads(handler) -> tuple[set[str], list[str]]:
    """The payload keys a handler's code reads (itself and the functions of its module
    it calls), and every use of the payload that is not a read by a literal key."""
    source = inspect.getsource(sys.modules[handler.__module__])
    functions = {
        node.name: node for node in ast.parse(source).body if isinstance(node, ast.FunctionDef)
    }
    keys: set[str] = set()
    loose: list[str] = []
    todo, seen = [handler.__name__], set()
    while todo:
        function = functions[todo.pop()]
        if function.name in seen:
            continue
        seen.add(function.name)
        parents = {
            child: parent for parent in ast.walk(function) for child in ast.iter_child_nodes(parent)
        }
        for node in ast.walk(function):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) in functions:
                todo.append(node.func.id)
            if not _is_payload(node):
                continue
            parent = parents[node]
            call = parents.get(parent)
            if isinstance(parent, ast.Subscript) and _key(parent.slice):
                keys.add(_key(parent.slice))  # payload["key"]
            elif (
                isinstance(parent, ast.Attribute)
                and parent.attr == "get"
                and isinstance(call, ast.Call)
                and call.args
                and _key(call.args[0])
            ):
                keys.add(_key(call.args[0]))  # payload.get("key")
            elif isinstance(parent, ast.Call) and getattr(parent.func, "id", None) in functions:
                pass  # handed to a function of the module, which is read too
            else:
                loose.append(f"{handler.__module__}:{node.lineno} {ast.unparse(parent)}")
    return keys, loose


def published_events() -> tuple[dict[str, set[str]], list[str]]:
    """Every event type the code hands to `vodstore.events.publish`, with the modules
    that do; and the calls whose event cannot be read (not a constructor call)."""
    found: dict[str, set[str]] = {}
    unreadable: list[str] = []
    for package in CODE:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            tree = ast.parse(path.read_text(), filename=str(path))
            functions, modules = set(), set()
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and node.module == "vodstore.events":
                    functions |= {a.asname or a.name for a in node.names if a.name == "publish"}
                if isinstance(node, ast.ImportFrom) and node.module == "vodstore":
                    modules |= {a.asname or a.name for a in node.names if a.name == "events"}
            for node in ast.walk(tree):
                if not isinstance(node, ast.Call):
                    continue
                func = node.func
                if not (
                    (isinstance(func, ast.Name) and func.id in functions)
                    or (
                        isinstance(func, ast.Attribute)
                        and func.attr == "publish"
                        and getattr(func.value, "id", None) in modules
                    )
                ):
                    continue
                made = node.args[0] if node.args else None
                if isinstance(made, ast.Call) and isinstance(made.func, ast.Name):
                    found.setdefault(made.func.id, set()).add(module)
                else:
                    unreadable.append(f"{module}:{node.lineno}")
    return found, unreadable


def docs_events_section() -> str:
    text = (ROOT / "docs" / "how-it-works.md").read_text()
    section = text.split("\n## Events\n", 1)[1]
    return section.split("\n## ", 1)[0]


# --- The catalogue against the code --------------------------------------------------------


def test_the_catalogue_holds_and_names_every_event_the_apps_define():
    assert wiring.problems() == []
    catalogued = {entry.type for entry in wiring.CATALOGUE}
    defined = {event.type for event in wiring._app_event_classes()}
    assert defined == catalogued
    assert {"VodPurchased", "PaymentApproved", "MileageChanged"} <= catalogued


def test_every_published_event_is_catalogued_and_published_where_it_says():
    found, unreadable = published_events()
    assert unreadable == [], "publish a constructed event, publish(EventType(...)), or teach me"
    assert found == {entry.type: {entry.published_in} for entry in wiring.CATALOGUE}


@pytest.mark.parametrize(("entry", "subscription"), SUBSCRIPTIONS)
def test_a_handler_reads_exactly_the_keys_it_declares_and_the_producer_has_them(
    entry, subscription
):
    keys, loose = payload_reads(subscription.handler)
    assert loose == [], "read the payload by literal keys, declared in vodstore/wiring.py"
    assert keys == set(subscription.reads)
    assert set(subscription.reads) <= {field.name for field in dataclasses.fields(entry.event)}


def test_the_code_reader_sees_reads_through_helpers_and_payloads_passed_whole():
    """The reader of handlers' code itself: a key read in a helper counts, and a payload
    handed whole to another module is flagged (its reads could not be checked)."""
    from mileage import handlers

    keys, loose = payload_reads(handlers.earn_on_payment_approved)
    assert keys == {"method", "amount", "user_id", "purchase_id"} and loose == []
    keys, loose = payload_reads(_passes_the_payload_whole)
    assert keys == {"vod_id", "title"}
    assert loose == [f"{__name__}:{_LOOSE_LINE} print(event.payload)"]


def _passes_the_payload_whole(event: events.Delivered) -> None:
    _helper(event.payload)
    print(event.payload.get("title"))
    print(event.payload)  # the line the reader must flag


_LOOSE_LINE = inspect.getsourcelines(_passes_the_payload_whole)[1] + 3


def _helper(payload: dict) -> int:
    return payload["vod_id"]


def test_every_catalogued_handler_is_subscribed_as_declared_and_nothing_else():
    for entry in wiring.CATALOGUE:
        subscribed = events.handlers_for(entry.type)
        assert [events.handler_name(h) for h in subscribed] == sorted(
            subscription.name for subscription in entry.handlers
        )
        for subscription in entry.handlers:
            assert events.is_atomic(subscription.handler) is subscription.atomic
            assert events.is_deferred(subscription.handler) is subscription.deferred
        assert events.unsubscribed_policy(entry.type) is entry.unsubscribed
    everything = {
        events.handler_name(handler)
        for signal in events._signals.values()
        for handler in signal.receivers_for(None)
    }
    assert everything == {s.name for entry in wiring.CATALOGUE for s in entry.handlers}


def test_the_brokers_queues_and_bindings_are_the_catalogues():
    assert events.groups() == wiring.routes()
    assert wiring.routes() == {
        "mileage": ["PaymentApproved", "PaymentCancelled"],
        "payment": ["VodPurchaseCancelled"],
        "purchase": ["VodPurchased"],
    }
    for group, event_types in wiring.routes().items():
        queue = broker.group_queue(group, event_types)
        assert sorted(b.routing_key for b in queue.bindings) == event_types


# --- Drift and missing declarations are refused at start-up --------------------------------


def _replace(event_type: str, **changes) -> tuple[wiring.Entry, ...]:
    return tuple(
        dataclasses.replace(entry, **changes) if entry.type == event_type else entry
        for entry in wiring.CATALOGUE
    )


def test_a_handler_reading_a_key_its_producer_does_not_send_is_refused_at_start_up():
    from mileage import handlers

    renamed = wiring.Entry(
        CatalogueTestRenamed,
        "tests.test_event_catalogue",
        handlers=(
            wiring.Subscription(
                handlers.earn_on_payment_approved,
                reads=("method", "amount", "user_id", "purchase_id"),
            ),
        ),
    )
    assert (
        "mileage.handlers.earn_on_payment_approved reads method, which CatalogueTestRenamed's "
        "payload has not (payment_id, purchase_id, user_id, payment_method, amount)"
    ) in wiring.problems([*wiring.CATALOGUE, renamed])

    earn = wiring.Subscription(handlers.earn_on_payment_approved, reads=("method", "points"))
    drifted = _replace(PaymentApproved.type, handlers=(earn,))
    with pytest.raises(ImproperlyConfigured, match="reads points, which PaymentApproved's"):
        wiring.wire(drifted)


def test_an_event_neither_handled_nor_declared_audit_only_is_refused_at_start_up():
    undeclared = _replace(MileageChanged.type, unsubscribed=None)
    assert wiring.problems(undeclared) == [
        "MileageChanged has no handler and no policy for having none"
    ]
    with pytest.raises(ImproperlyConfigured, match="MileageChanged has no handler"):
        wiring.wire(undeclared)

    (paid,) = [entry for entry in wiring.CATALOGUE if entry.type == PaymentApproved.type]
    both = _replace(MileageChanged.type, handlers=paid.handlers)
    assert "MileageChanged has handlers and a policy for having none" in wiring.problems(both)

    forgotten = [entry for entry in wiring.CATALOGUE if entry.type != MileageChanged.type]
    assert wiring.problems(forgotten) == ["MileageChanged (mileage.events) is not in the catalogue"]


def test_a_handler_that_is_not_a_module_level_function_is_refused():
    def closure(event: events.Delivered) -> None:
        pass

    loose = _replace(
        MileageChanged.type,
        unsubscribed=None,
        handlers=(wiring.Subscription(closure, reads=()),),
    )
    assert wiring.problems(loose) == [
        f"{events.handler_name(closure)} is not a module-level function"
    ]


# --- The policy for an event nobody handles ------------------------------------------------


@pytest.mark.django_db
def test_an_audit_only_event_is_stored_as_delivered():
    assert events.unsubscribed_policy(MileageChanged.type) is events.Unsubscribed.AUDIT_ONLY
    with transaction.atomic():
        event_id = events.publish(
            MileageChanged(user_id=1, entry_id=1, delta=10, reason="earned", purchase_id=1)
        )
    row = OutboxEvent.objects.get(pk=event_id)
    assert row.status == OutboxEvent.Status.DELIVERED and row.delivered_at is not None


@pytest.mark.django_db
def test_an_event_nobody_handles_and_nobody_declared_is_refused_with_its_change():
    with (
        pytest.raises(events.UndeclaredEvent, match="CatalogueTestUndeclared"),
        transaction.atomic(),
    ):
        events.publish(CatalogueTestUndeclared(n=1))
    assert not OutboxEvent.objects.exists()


# --- The docs ------------------------------------------------------------------------------


def test_the_docs_show_the_current_catalogue():
    table = wiring.markdown()
    assert table in docs_events_section(), f"put this in docs/how-it-works.md, Events:\n{table}"
