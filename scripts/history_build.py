"""Years of history in a store (`make history`, issue 17): fills a migrated PostgreSQL
store with purchases, their payments, gateway operations, points and delivered events
in a few set-based statements; and the tasks the history bench runs inside a store
(`echo '{...}' | python -m scripts.history_build TASK`, as `scripts.in_store` does).

What a history is made of, per purchase (its id is also its payment's id):
- a buyer, one of `buyers` accounts (unusable passwords, no e-mail, so no receipts),
  chosen with a skew: the busiest buyers make about nine times as many purchases as
  the quietest; a buyer never buys the same film twice (`one_paid_purchase_per_user_and_vod`);
- a time over `days` ending now, more of them lately (a growing store), in id order;
- every tenth purchase of a buyer is a film paid with points (the free film), the rest
  by card at the film's price; a card purchase of a ₩0 film charges and earns nothing;
- by card: an authorization attached to the purchase and its capture (1 in 100 after a
  declined attempt); points earned; 3 in 100 purchases are cancelled within the refund
  window: refund, points clawed back (or returned, for the free film);
- the outbox events the services publish for all that (VodPurchased, PaymentApproved,
  MileageChanged, and for a cancel VodPurchaseCancelled, PaymentCancelled,
  MileageChanged), delivered, each with one EventDelivery per handler the event
  catalogue gives its type now.
Mileage accounts hold the sum of their entries. `scripts.books.problems()` finds
nothing wrong with the result (tests/test_history_build.py).

Not in a history: voided or released authorizations (a purchase that failed after its
card was authorized), receipts (the buyers have no e-mail address), idempotency keys,
watch progress, sessions and API tokens; and the outbox is whole: history retention
(`prune_history`, OUTBOX_RETENTION_DAYS) has not run on it, as in a store that never
pruned.

The indexes and constraints of the tables it fills (primary keys and foreign keys too)
are dropped before the load and made again after it from their definitions as the
migrations made them (`pg_get_indexdef`, `pg_get_constraintdef`), then compared with
those definitions: building an index once is much faster than keeping it up to date
over millions of inserts. Every value spliced into these statements is the builder's
own (numbers, times, the models' table names, handler names), never input.
"""

import contextlib
import dataclasses
import hashlib
import json
import math
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

import django

SEED = 17
BUYER_PREFIX = "history-buyer-"
STAFF_USERNAME = "history-staff"
SKEW = 1.25  # buyer n of B is drawn as B * r**SKEW: the first ones buy most
MILEAGE_EVERY = 10  # every tenth purchase of a buyer is the free film, paid with points
CANCELLED_SHARE = 0.03
DECLINED_SHARE = 0.01  # card purchases whose first authorization was declined
BUILDER_VERSION = 1  # part of the marker: a store built by another version is rebuilt
FILTER_CHOICES = 6  # at most this many choices of each admin filter are measured

# The purchase's events at their moments (seconds after the purchase, or the cancel):
# what the services publish inside the purchase's transaction, what the handlers write
# after it commits, and the receipt, which the worker sends after the dispatch grace.
EARNED_AFTER = 0.05
RECEIPT_AFTER = 1.5  # after the grace period
REFUNDED_AFTER = 0.9  # the cancel's handler: refund at the gateway, payment cancelled
REVERSED_AFTER = 0.95  # points taken back (or returned) once the payment is cancelled


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# --- SQL pieces ------------------------------------------------------------------------


def _lit(value: object) -> str:
    """A value of the builder's own as an SQL literal."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, datetime):
        return f"TIMESTAMPTZ '{value.isoformat()}'"
    return "'" + str(value).replace("'", "''") + "'"


def _seconds(value: float) -> str:
    return f"INTERVAL '{value} seconds'"


def _uniform(column: str, stream: int, seed: int) -> str:
    """A number in [0, 1) drawn from the bigint `column`: the same in every build."""
    return (
        f"((hashint8extended({column}::bigint, {seed * 16 + stream}) & 9007199254740991)"
        "::float8 / 9007199254740992.0)"
    )


def _event_id(kind: str, seed: int) -> str:
    """The id of a purchase's event of `kind` (a uuid drawn from the purchase's id)."""
    return f"md5('{seed}:' || p.i || ':{kind}')::uuid"


def _reference(seed: int) -> str:
    """The simulated processor's reference of a purchase's charge ("sim_" and 32 hex
    digits, as the simulator makes them): one per authorization."""
    return f"'sim_' || md5('{seed}:charge:' || p.i)"


@dataclasses.dataclass(frozen=True)
class Tables:
    purchase: str
    payment: str
    operation: str
    entry: str
    account: str
    outbox: str
    delivery: str
    user: str
    film: str

    @property
    def filled(self) -> list[str]:
        """The tables the history fills (whose indexes go during the load)."""
        return [
            self.purchase,
            self.payment,
            self.operation,
            self.entry,
            self.account,
            self.outbox,
            self.delivery,
        ]


def _tables() -> Tables:
    from django.contrib.auth import get_user_model

    from catalog.models import Vod
    from mileage.models import MileageAccount, MileageEntry
    from payment.models import Operation, Payment
    from purchase.models import Purchase
    from vodstore.models import EventDelivery, OutboxEvent

    return Tables(
        purchase=Purchase._meta.db_table,
        payment=Payment._meta.db_table,
        operation=Operation._meta.db_table,
        entry=MileageEntry._meta.db_table,
        account=MileageAccount._meta.db_table,
        outbox=OutboxEvent._meta.db_table,
        delivery=EventDelivery._meta.db_table,
        user=get_user_model()._meta.db_table,
        film=Vod._meta.db_table,
    )


# --- what is filled, statement by statement ----------------------------------------------


@dataclasses.dataclass(frozen=True)
class Plan:
    """The history to build: its size, its span and the store's rules."""

    purchases: int
    buyers: int
    start: datetime
    end: datetime
    seed: int
    earn: int  # points a card purchase of money earns
    cost: int  # points the free film costs
    grace: int  # seconds before the worker takes an event (the receipt's delay)
    window_days: int  # the refund window
    gateway: str  # the simulated adapter's name, as the operations record it


def _users_sql(plan: Plan, t: Tables) -> str:
    seed = plan.seed
    # An unusable password as Django makes one: "!" and 40 characters.
    return f"""
        INSERT INTO {t.user} (password, last_login, is_superuser, username, first_name,
            last_name, email, is_staff, is_active, date_joined)
        SELECT '!' || md5('{seed}:password:' || n) || substr(md5('{seed}:salt:' || n), 1, 8),
            NULL, false, {_lit(BUYER_PREFIX)} || n, '', '', '', false, true, {_lit(plan.start)}
        FROM generate_series(0, {plan.buyers - 1}) AS n
    """  # noqa: S608 - the builder's own values


def _plan_sql(plan: Plan, films: int, step: int) -> str:
    """One row per purchase, in id (and time) order: who bought what, when, how paid,
    and whether and when it was cancelled."""
    from vodstore.vocabulary import PaymentMethod

    n, b, seed = plan.purchases, plan.buyers, plan.seed
    span = (plan.end - plan.start).total_seconds()
    card, mileage = _lit(PaymentMethod.CARD.value), _lit(PaymentMethod.MILEAGE.value)
    return f"""
        CREATE UNLOGGED TABLE history_plan AS
        WITH draw AS (
            SELECT i,
                {_lit(plan.start)} + make_interval(
                    secs => {span} * sqrt((i - 1 + {_uniform("i", 1, seed)}) / {n}.0)
                ) AS t,
                least({b - 1}, floor({b} * power({_uniform("i", 2, seed)}, {SKEW})))::int AS u,
                {_uniform("i", 3, seed)} AS r_cancel,
                {_uniform("i", 4, seed)} AS r_when,
                {_uniform("i", 5, seed)} AS r_decline
            FROM generate_series(1, {n}::bigint) AS i
        ), ranked AS (
            SELECT draw.*, row_number() OVER (PARTITION BY u ORDER BY i) - 1 AS k FROM draw
        ), bought AS (
            SELECT r.*, b.user_id, f.id AS vod_id, f.title AS vod_title, f.price,
                CASE WHEN mod(r.k, {MILEAGE_EVERY}) = {MILEAGE_EVERY - 1}
                    THEN {mileage} ELSE {card} END AS method
            FROM ranked AS r
            JOIN history_buyer AS b ON b.n = r.u
            JOIN history_film AS f
                ON f.idx = mod((hashint4(r.u) & 2147483647) + r.k * {step}, {films})
        )
        SELECT i, t, user_id, k, vod_id, vod_title, method,
            CASE WHEN method = {mileage} THEN {plan.cost} ELSE price END AS amount,
            (method = {card} AND price > 0) AS charged,
            (r_cancel < {CANCELLED_SHARE}) AS cancelled,
            CASE WHEN r_cancel < {CANCELLED_SHARE} THEN
                t + least(INTERVAL '{plan.window_days} days', {_lit(plan.end)} - t) * r_when
            END AS cancelled_at,
            (method = {card} AND price > 0 AND r_decline < {DECLINED_SHARE}) AS declined
        FROM bought
        ORDER BY i
    """  # noqa: S608 - the builder's own values


def _purchases_sql(t: Tables) -> str:
    from purchase.models import Purchase

    paid, cancelled = _lit(Purchase.Status.PAID.value), _lit(Purchase.Status.CANCELLED.value)
    return f"""
        INSERT INTO {t.purchase} (id, user_id, vod_id, vod_title, status, payment_method,
            amount, created_at, cancelled_at)
        SELECT i, user_id, vod_id, vod_title,
            CASE WHEN cancelled THEN {cancelled} ELSE {paid} END,
            method, amount, t, cancelled_at
        FROM history_plan
    """  # noqa: S608 - the builder's own values


def _payments_sql(plan: Plan, t: Tables) -> str:
    from payment.models import Payment

    approved = _lit(Payment.Status.APPROVED.value)
    cancelled = _lit(Payment.Status.CANCELLED.value)
    return f"""
        INSERT INTO {t.payment} (id, purchase_id, user_id, method, amount, status, gateway,
            gateway_reference, authorization_id, approved_at, cancelled_at)
        SELECT p.i, p.i, p.user_id, p.method, p.amount,
            CASE WHEN p.cancelled THEN {cancelled} ELSE {approved} END,
            CASE WHEN p.charged THEN {_lit(plan.gateway)} ELSE '' END,
            CASE WHEN p.charged THEN {_reference(plan.seed)} ELSE '' END,
            CASE WHEN p.charged THEN 4 * p.i - 2 END,
            p.t,
            p.cancelled_at + {_seconds(REFUNDED_AFTER)}
        FROM history_plan AS p
    """  # noqa: S608 - the builder's own values


def _operations_sql(plan: Plan, t: Tables) -> str:
    """Operation ids 4i-3 (a declined attempt), 4i-2 (the authorization), 4i-1 (its
    capture), 4i (the refund of a cancel): one key each, unique as the schema wants."""
    from payment.models import Operation

    kind, state = Operation.Kind, Operation.State
    authorize, capture, refund = (
        _lit(k.value) for k in (kind.AUTHORIZE, kind.CAPTURE, kind.REFUND)
    )
    succeeded, failed = _lit(state.SUCCEEDED.value), _lit(state.FAILED.value)
    seed = plan.seed
    return f"""
        INSERT INTO {t.operation} (id, kind, state, key, gateway, amount, user_id, reference,
            authorization_id, request_key, purchase_id, released_at, attempts, last_error,
            created_at, updated_at)
        SELECT o.id, o.kind, o.state, 'vodstore-' || md5('{seed}:operation:' || o.id),
            {_lit(plan.gateway)}, p.amount, p.user_id, o.reference, o.authorization_id, NULL,
            o.purchase_id, NULL, 0, o.last_error, o.created_at, o.updated_at
        FROM history_plan AS p
        CROSS JOIN LATERAL (SELECT {_reference(seed)} AS ref) AS charge
        CROSS JOIN LATERAL (VALUES
            (p.declined, 4 * p.i - 3, {authorize}, {failed}, '', NULL::bigint, NULL::bigint,
                'declined: simulated decline', p.t - {_seconds(40)}, p.t - {_seconds(39.6)}),
            (true, 4 * p.i - 2, {authorize}, {succeeded}, charge.ref, NULL, p.i, '',
                p.t - {_seconds(0.4)}, p.t),
            (true, 4 * p.i - 1, {capture}, {succeeded}, charge.ref, 4 * p.i - 2, NULL, '',
                p.t, p.t + {_seconds(0.3)}),
            (p.cancelled, 4 * p.i, {refund}, {succeeded}, charge.ref, 4 * p.i - 2, NULL, '',
                p.cancelled_at + {_seconds(0.2)}, p.cancelled_at + {_seconds(0.6)})
        ) AS o(present, id, kind, state, reference, authorization_id, purchase_id, last_error,
            created_at, updated_at)
        WHERE p.charged AND o.present
    """  # noqa: S608 - the builder's own values


def _entries_sql(plan: Plan, t: Tables) -> str:
    """Entry ids 2i-1 (earned or spent) and 2i (its reversal), each naming the event its
    handler ran for (PaymentApproved, PaymentCancelled), as the services do."""
    from mileage.models import MileageEntry
    from vodstore.vocabulary import PaymentMethod

    reason = MileageEntry.Reason
    mileage, seed = _lit(PaymentMethod.MILEAGE.value), plan.seed
    approved, cancelled = _event_id("PaymentApproved", seed), _event_id("PaymentCancelled", seed)
    return f"""
        INSERT INTO {t.entry} (id, account_id, delta, reason, purchase_id, event_id, created_at)
        SELECT e.id, p.user_id, e.delta, e.reason, p.i, e.event_id, e.created_at
        FROM history_plan AS p
        CROSS JOIN LATERAL (VALUES
            (p.charged, 2 * p.i - 1, {plan.earn}, {_lit(reason.EARNED.value)}, {approved},
                p.t + {_seconds(EARNED_AFTER)}),
            (p.method = {mileage}, 2 * p.i - 1, {-plan.cost}, {_lit(reason.SPENT.value)},
                {approved}, p.t),
            (p.charged AND p.cancelled, 2 * p.i, {-plan.earn}, {_lit(reason.CLAWED_BACK.value)},
                {cancelled}, p.cancelled_at + {_seconds(REVERSED_AFTER)}),
            (p.method = {mileage} AND p.cancelled, 2 * p.i, {plan.cost},
                {_lit(reason.REFUNDED.value)}, {cancelled},
                p.cancelled_at + {_seconds(REVERSED_AFTER)})
        ) AS e(present, id, delta, reason, event_id, created_at)
        WHERE e.present
    """  # noqa: S608 - the builder's own values


def _accounts_sql(t: Tables) -> str:
    return f"""
        INSERT INTO {t.account} (user_id, balance, updated_at)
        SELECT account_id, sum(delta), max(created_at) FROM {t.entry} GROUP BY account_id
    """  # noqa: S608 - the builder's own values


@dataclasses.dataclass(frozen=True)
class EventKind:
    """One of a purchase's events: its type, when it exists, its id, its payload (SQL
    for each field of the producer's dataclass) and its moments."""

    event: type
    name: str  # distinguishes two events of one type (MileageChanged earned and reversed)
    present: str
    payload: dict[str, str]
    occurred: str
    delivered: str

    @property
    def type(self) -> str:
        return self.event.type


def _event_kinds(plan: Plan) -> tuple[list[EventKind], list[EventKind]]:
    """The events of every purchase, and those of a cancelled one."""
    from mileage.events import MileageChanged
    from mileage.models import MileageEntry
    from payment.events import PaymentApproved, PaymentCancelled
    from purchase.events import VodPurchaseCancelled, VodPurchased
    from vodstore.vocabulary import PaymentMethod

    reason = MileageEntry.Reason
    mileage = _lit(PaymentMethod.MILEAGE.value)
    points = "(p.charged OR p.method = " + mileage + ")"
    bought = {
        "purchase_id": "p.i",
        "user_id": "p.user_id",
        "vod_id": "p.vod_id",
        "payment_method": "p.method",
        "amount": "p.amount",
    }
    paid = {
        "payment_id": "p.i",
        "purchase_id": "p.i",
        "user_id": "p.user_id",
        "method": "p.method",
        "amount": "p.amount",
    }
    earned_at = f"CASE WHEN p.charged THEN p.t + {_seconds(EARNED_AFTER)} ELSE p.t END"
    reversed_at = f"p.cancelled_at + {_seconds(REVERSED_AFTER)}"
    grace = plan.grace
    always = [
        EventKind(
            PaymentApproved,
            "PaymentApproved",
            "true",
            paid,
            "p.t",
            f"p.t + {_seconds(EARNED_AFTER)}",
        ),
        EventKind(
            VodPurchased,
            "VodPurchased",
            "true",
            bought,
            "p.t",
            f"p.t + {_seconds(grace + RECEIPT_AFTER)}",
        ),
        EventKind(
            MileageChanged,
            "MileageChanged",
            points,
            {
                "user_id": "p.user_id",
                "entry_id": "2 * p.i - 1",
                "delta": f"CASE WHEN p.method = {mileage} THEN {-plan.cost} ELSE {plan.earn} END",
                "reason": f"CASE WHEN p.method = {mileage} THEN {_lit(reason.SPENT.value)} "
                f"ELSE {_lit(reason.EARNED.value)} END",
                "purchase_id": "p.i",
            },
            earned_at,
            earned_at,
        ),
    ]
    cancelled = [
        EventKind(
            VodPurchaseCancelled,
            "VodPurchaseCancelled",
            "true",
            bought,
            "p.cancelled_at",
            f"p.cancelled_at + {_seconds(REFUNDED_AFTER + 0.1)}",
        ),
        EventKind(
            PaymentCancelled,
            "PaymentCancelled",
            "true",
            paid,
            f"p.cancelled_at + {_seconds(REFUNDED_AFTER)}",
            reversed_at,
        ),
        EventKind(
            MileageChanged,
            "MileageReversed",
            points,
            {
                "user_id": "p.user_id",
                "entry_id": "2 * p.i",
                "delta": f"CASE WHEN p.method = {mileage} THEN {plan.cost} ELSE {-plan.earn} END",
                "reason": f"CASE WHEN p.method = {mileage} THEN {_lit(reason.REFUNDED.value)} "
                f"ELSE {_lit(reason.CLAWED_BACK.value)} END",
                "purchase_id": "p.i",
            },
            reversed_at,
            reversed_at,
        ),
    ]
    for kind in always + cancelled:
        fields = {field.name for field in dataclasses.fields(kind.event)}
        if fields != set(kind.payload):
            raise RuntimeError(
                f"{kind.type}'s payload is now {sorted(fields)}; scripts/history_build.py "
                f"writes {sorted(kind.payload)}: teach it the new fields"
            )
    return always, cancelled


def _handlers(event_type: str) -> list[str]:
    """The names the outbox records for `event_type`'s handlers (the event catalogue's)."""
    from vodstore.events import handler_name, handlers_for

    return [handler_name(handler) for handler in handlers_for(event_type)]


def _events_sql(plan: Plan, t: Tables, kinds: list[EventKind], where: str) -> str:
    from vodstore.models import OutboxEvent

    delivered = _lit(OutboxEvent.Status.DELIVERED.value)
    rows = []
    for kind in kinds:
        payload = ", ".join(f"{_lit(key)}, {sql}" for key, sql in kind.payload.items())
        # Nobody handles an audit-only type: stored delivered at once, due at once.
        due = (
            kind.occurred
            if not _handlers(kind.type)
            else f"{kind.occurred} + {_seconds(plan.grace)}"
        )
        delivered_at = kind.delivered if _handlers(kind.type) else kind.occurred
        rows.append(
            f"({kind.present}, {_event_id(kind.name, plan.seed)}, {_lit(kind.type)}, "
            f"jsonb_build_object({payload}), {kind.occurred}, {due}, {delivered_at})"
        )
    values = ",\n            ".join(rows)
    return f"""
        INSERT INTO {t.outbox} (id, type, payload, occurred_at, status, attempts,
            next_attempt_at, last_error, delivered_at, published_at, trace_context)
        SELECT e.id, e.type, e.payload, e.occurred_at, {delivered}, 0, e.due, '',
            e.delivered_at, NULL, '{{}}'::jsonb
        FROM history_plan AS p
        CROSS JOIN LATERAL (VALUES
            {values}
        ) AS e(present, id, type, payload, occurred_at, due, delivered_at)
        WHERE {where} AND e.present
    """  # noqa: S608 - the builder's own values


def _deliveries_sql(plan: Plan, t: Tables, kinds: list[EventKind], where: str) -> str | None:
    rows = [
        f"({kind.present}, {_event_id(kind.name, plan.seed)}, {_lit(handler)}, {kind.delivered})"
        for kind in kinds
        for handler in _handlers(kind.type)
    ]
    if not rows:
        return None
    values = ",\n            ".join(rows)
    return f"""
        INSERT INTO {t.delivery} (event_id, handler, delivered_at)
        SELECT d.event_id, d.handler, d.delivered_at
        FROM history_plan AS p
        CROSS JOIN LATERAL (VALUES
            {values}
        ) AS d(present, event_id, handler, delivered_at)
        WHERE {where} AND d.present
    """  # noqa: S608 - the builder's own values


# --- indexes and constraints around the load ---------------------------------------------


@dataclasses.dataclass(frozen=True)
class Schema:
    """The indexes and constraints of the filled tables (and the foreign keys that point
    at them), as definitions: (table, name, definition)."""

    keys: list[tuple[str, str, str]]  # primary keys and unique constraints
    indexes: list[tuple[str, str, str]]  # indexes no constraint owns
    foreign: list[tuple[str, str, str]]  # foreign keys from, or to, the filled tables

    def __len__(self) -> int:
        return len(self.keys) + len(self.indexes) + len(self.foreign)


def schema_of(cursor, tables: list[str]) -> Schema:
    cursor.execute(
        """
        SELECT c.contype, c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid)
        FROM pg_constraint AS c
        WHERE c.contype IN ('p', 'u', 'f')
          AND (c.conrelid = ANY(%s::regclass[])
               OR (c.contype = 'f' AND c.confrelid = ANY(%s::regclass[])))
        ORDER BY 2, 3
        """,
        [tables, tables],
    )
    constraints = cursor.fetchall()
    cursor.execute(
        """
        SELECT i.indrelid::regclass::text, i.indexrelid::regclass::text,
            pg_get_indexdef(i.indexrelid)
        FROM pg_index AS i
        WHERE i.indrelid = ANY(%s::regclass[])
          AND NOT EXISTS (
              SELECT 1 FROM pg_constraint AS c
              WHERE c.conindid = i.indexrelid AND c.conrelid = i.indrelid
                AND c.contype IN ('p', 'u', 'x'))
        ORDER BY 1, 2
        """,
        [tables],
    )
    indexes = [tuple(row) for row in cursor.fetchall()]
    return Schema(
        keys=[(table, name, sql) for kind, table, name, sql in constraints if kind != "f"],
        indexes=indexes,
        foreign=[(table, name, sql) for kind, table, name, sql in constraints if kind == "f"],
    )


def _quote(name: str) -> str:
    from django.db import connection

    return connection.ops.quote_name(name)


def _drop(cursor, schema: Schema) -> None:
    for table, name, _ in schema.foreign:
        cursor.execute(f"ALTER TABLE {_quote(table)} DROP CONSTRAINT {_quote(name)}")
    for table, name, _ in schema.keys:
        cursor.execute(f"ALTER TABLE {_quote(table)} DROP CONSTRAINT {_quote(name)}")
    for _, name, _ in schema.indexes:
        cursor.execute(f"DROP INDEX {_quote(name)}")


def _declared() -> dict[str, tuple]:
    """The indexes the models declare (`Meta.indexes`, and the `Meta.constraints` that
    PostgreSQL keeps as indexes), by name, with their model."""
    from django.apps import apps

    found: dict[str, tuple] = {}
    for model in apps.get_models():
        for index in model._meta.indexes:
            found[index.name] = (model, index, "add_index")
        for constraint in model._meta.constraints:
            found[constraint.name] = (model, constraint, "add_constraint")
    return found


def _restore(cursor, schema: Schema, say: Callable[[str], None]) -> None:
    """Make each index and constraint again, in dependency order (keys before the
    foreign keys that point at them); say how long each took.

    From its definition, except an index a model declares: that one is made as its
    migration made it (the schema editor's SQL), because PostgreSQL's text of some
    partial indexes does not read back as itself (`kind IN (...)` becomes an array
    cast that, made again, is printed otherwise), and the check after compares texts."""
    from django.db import connection

    declared = _declared()

    def make_index(table: str, name: str, sql: str) -> None:
        model, thing, how = declared.get(name, (None, None, ""))
        if model is not None and model._meta.db_table == table:
            with connection.schema_editor() as editor:
                getattr(editor, how)(model, thing)
        else:
            cursor.execute(sql)

    def add_constraint(table: str, name: str, sql: str) -> None:
        cursor.execute(f"ALTER TABLE {_quote(table)} ADD CONSTRAINT {_quote(name)} {sql}")

    work = [
        *((add_constraint, key) for key in schema.keys),
        *((make_index, index) for index in schema.indexes),
        *((add_constraint, key) for key in schema.foreign),
    ]
    for make, (table, name, sql) in work:
        started = time.monotonic()
        make(table, name, sql)
        say(f"      {time.monotonic() - started:7.1f} s  {name}")


# --- the builder --------------------------------------------------------------------------


class HistoryRefused(RuntimeError):
    """The store cannot take a history (not PostgreSQL, not empty, too few films...)."""


@contextmanager
def _step(name: str, steps: dict, say: Callable[[str], None]) -> Iterator[dict]:
    say(f"  {name} ...")
    started = time.monotonic()
    note: dict = {}
    yield note
    steps[name] = round(time.monotonic() - started, 1)
    rows = f"  ({note['rows']:,} rows)" if "rows" in note else ""
    say(f"  {name}: {steps[name]:.1f} s{rows}")


def _session(cursor, local: bool) -> None:
    """Generous memory for the sorts and index builds, and no wait for each commit's
    flush (a crash mid-build means building again anyway)."""
    scope = "SET LOCAL" if local else "SET"
    for setting, value in (
        ("maintenance_work_mem", "'1GB'"),
        ("work_mem", "'256MB'"),
        ("synchronous_commit", "off"),
        ("jit", "off"),
    ):
        cursor.execute(f"{scope} {setting} = {value}")


def _refuse_unless_ready(cursor, t: Tables) -> None:
    for table in t.filled:
        cursor.execute(f"SELECT EXISTS (SELECT 1 FROM {_quote(table)})")  # noqa: S608
        if cursor.fetchone()[0]:
            raise HistoryRefused(f"{table} has rows already: a history fills an empty store")
    cursor.execute(
        f"SELECT count(*) FROM {_quote(t.user)} WHERE starts_with(username, %s)",  # noqa: S608
        [BUYER_PREFIX],
    )
    if cursor.fetchone()[0]:
        raise HistoryRefused(f"accounts named {BUYER_PREFIX}... exist already")


FILLED_COLUMNS = {
    "purchase": "id user_id vod_id vod_title status payment_method amount created_at cancelled_at",
    "payment": "id purchase_id user_id method amount status gateway gateway_reference "
    "authorization_id approved_at cancelled_at",
    "operation": "id kind state key gateway amount user_id reference authorization_id "
    "request_key purchase_id released_at attempts last_error created_at updated_at",
    "entry": "id account_id delta reason purchase_id event_id created_at",
    "account": "user_id balance updated_at",
    "outbox": "id type payload occurred_at status attempts next_attempt_at last_error "
    "delivered_at published_at trace_context",
    "delivery": "id event_id handler delivered_at",
}


def _refuse_unknown_columns(cursor, t: Tables) -> None:
    """A column the builder does not fill must have a default (or allow NULL): a model
    that gained a required column needs the builder taught about it, said plainly."""
    for role, columns in FILLED_COLUMNS.items():
        table = getattr(t, role)
        cursor.execute(
            """
            SELECT column_name FROM information_schema.columns
            WHERE table_schema = current_schema() AND table_name = %s
              AND is_nullable = 'NO' AND column_default IS NULL AND is_identity = 'NO'
            """,
            [table],
        )
        missing = sorted({row[0] for row in cursor.fetchall()} - set(columns.split()))
        if missing:
            raise HistoryRefused(
                f"{table} has required columns the builder does not fill: "
                f"{', '.join(missing)} (teach scripts/history_build.py)"
            )


def _coprime_step(films: int) -> int:
    """A step through the films that visits each once before repeating."""
    for step in (7919, 104729, 1299709, 15485863):
        if math.gcd(step, films) == 1:
            return step % films or 1
    return 1


def history_fill(
    *,
    purchases: int,
    buyers: int,
    days: float,
    seed: int = SEED,
    end: datetime | None = None,
    say: Callable[[str], None] = _say,
) -> dict:
    """Fill this (migrated, empty) PostgreSQL store with `purchases` purchases by
    `buyers` new accounts over the `days` before `end` (now), from the films on sale,
    as described above; return the seconds of each step and the rows made.

    Inside a transaction (a test) the settings are local to it and VACUUM is left out
    (ANALYZE only); otherwise the tables are vacuumed too, as autovacuum would have
    done in a store that old."""
    from django.conf import settings
    from django.db import connection
    from django.utils import timezone

    from payment.adapters.simulated import SimulatedGateway

    if connection.vendor != "postgresql":
        raise HistoryRefused("the history builder speaks PostgreSQL only")
    if purchases < 1 or buyers < 1:
        raise HistoryRefused("a history needs at least one purchase and one buyer")
    started = time.monotonic()
    in_transaction = connection.in_atomic_block
    end = (end or timezone.now()).replace(microsecond=0)
    plan = Plan(
        purchases=purchases,
        buyers=buyers,
        start=end - timedelta(days=days),
        end=end,
        seed=seed,
        earn=settings.MILEAGE_EARN_PER_PURCHASE,
        cost=settings.MILEAGE_FREE_VOD_COST,
        grace=settings.EVENTS_DISPATCH_GRACE_SECONDS,
        window_days=settings.REFUND_WINDOW_DAYS,
        gateway=SimulatedGateway.name,
    )
    t = _tables()
    steps: dict[str, float] = {}
    rows: dict[str, int] = {}
    always, cancelled = _event_kinds(plan)
    with connection.cursor() as cursor:
        _session(cursor, local=in_transaction)
        _refuse_unless_ready(cursor, t)
        _refuse_unknown_columns(cursor, t)
        cursor.execute("DROP TABLE IF EXISTS history_plan, history_buyer, history_film")
        try:
            with _step("buyers and the plan", steps, say) as note:
                cursor.execute(
                    f"""CREATE UNLOGGED TABLE history_film AS
                    SELECT (row_number() OVER (ORDER BY id) - 1)::int AS idx, id, title, price
                    FROM {_quote(t.film)} WHERE is_active"""  # noqa: S608
                )
                films = cursor.rowcount
                if films < 2:
                    raise HistoryRefused("a history needs films on sale (two at least)")
                cursor.execute(_users_sql(plan, t))
                rows["buyers"] = cursor.rowcount
                cursor.execute(
                    f"""CREATE UNLOGGED TABLE history_buyer AS
                    SELECT substr(username, {len(BUYER_PREFIX) + 1})::int AS n, id AS user_id
                    FROM {_quote(t.user)} WHERE starts_with(username, %s)""",  # noqa: S608
                    [BUYER_PREFIX],
                )
                cursor.execute(_plan_sql(plan, films, _coprime_step(films)))
                note["rows"] = cursor.rowcount
                cursor.execute("SELECT max(k) + 1 FROM history_plan")
                busiest = cursor.fetchone()[0]
                if busiest > films:
                    raise HistoryRefused(
                        f"the busiest buyer would buy {busiest:,} films of {films:,}: "
                        "more films or more buyers"
                    )
            schema = schema_of(cursor, t.filled)
            with _step("drop indexes and constraints", steps, say) as note:
                # A rehearsal on the empty tables first: what cannot be made again
                # exactly is found before the load, not after it.
                _drop(cursor, schema)
                _restore(cursor, schema, lambda _: None)
                _same(cursor, schema, t)
                _drop(cursor, schema)
                note["rows"] = len(schema)
            fills = [
                ("purchases", _purchases_sql(t)),
                ("payments", _payments_sql(plan, t)),
                ("payment operations", _operations_sql(plan, t)),
                ("ledger entries", _entries_sql(plan, t)),
                ("mileage accounts", _accounts_sql(t)),
                ("outbox events", _events_sql(plan, t, always, "true")),
                ("outbox events of cancels", _events_sql(plan, t, cancelled, "p.cancelled")),
                ("event deliveries", _deliveries_sql(plan, t, always, "true")),
                (
                    "event deliveries of cancels",
                    _deliveries_sql(plan, t, cancelled, "p.cancelled"),
                ),
            ]
            for name, sql in fills:
                if sql is None:
                    continue
                with _step(name, steps, say) as note:
                    cursor.execute(sql)
                    note["rows"] = rows[name] = cursor.rowcount
            with _step("indexes and constraints", steps, say) as note:
                _restore(cursor, schema, say)
                _same(cursor, schema, t)
                note["rows"] = len(schema)
            with _step("sequences and join dates", steps, say):
                for table in (t.purchase, t.payment, t.operation, t.entry, t.delivery):
                    latest = f"SELECT max(id) FROM {_quote(table)}"  # noqa: S608
                    cursor.execute(
                        f"SELECT setval(pg_get_serial_sequence(%s, 'id'), ({latest}))", [table]
                    )
                cursor.execute(
                    f"""UPDATE {_quote(t.user)} AS u SET date_joined = first.t - INTERVAL '1 day'
                    FROM (SELECT user_id, min(t) AS t FROM history_plan GROUP BY user_id) AS first
                    WHERE u.id = first.user_id"""  # noqa: S608
                )
        finally:
            cursor.execute("DROP TABLE IF EXISTS history_plan, history_buyer, history_film")
        vacuum = "ANALYZE" if in_transaction else "VACUUM (ANALYZE)"
        with _step("vacuum and analyze" if not in_transaction else "analyze", steps, say):
            for table in [*t.filled, t.user, t.film]:
                cursor.execute(f"{vacuum} {_quote(table)}")
        if not in_transaction:
            for setting in ("maintenance_work_mem", "work_mem", "synchronous_commit", "jit"):
                cursor.execute(f"RESET {setting}")
    total = round(time.monotonic() - started, 1)
    say(f"  history of {purchases:,} purchases built in {total:.1f} s")
    return {"steps": steps, "rows": rows, "seconds": total}


def _same(cursor, schema: Schema, t: Tables) -> None:
    """Stop unless the indexes and constraints are now exactly `schema`."""
    again = schema_of(cursor, t.filled)
    if again != schema:
        differ = set(again.keys + again.indexes + again.foreign) ^ set(
            schema.keys + schema.indexes + schema.foreign
        )
        raise RuntimeError(
            f"the indexes and constraints made again differ from the migrations': {sorted(differ)}"
        )


# --- tasks the history bench runs inside a store -------------------------------------------


def build(*, purchases: int, buyers: int, days: float, seed: int = SEED) -> dict:
    """`history_fill`, for `scripts.history` (its progress on standard error)."""
    return history_fill(purchases=purchases, buyers=buyers, days=days, seed=seed)


def state() -> dict:
    """The migrations on disk and those applied to this store's database, sorted; a
    digest of the disk's (their names and their files' contents); the films on sale."""
    from django.db import connection
    from django.db.migrations.loader import MigrationLoader

    from catalog.models import Vod

    loader = MigrationLoader(connection)
    disk = sorted(loader.disk_migrations)
    digest = hashlib.sha256()
    for app, name in disk:
        module = sys.modules[type(loader.disk_migrations[app, name]).__module__]
        digest.update(f"{app}.{name}\n".encode())
        with contextlib.suppress(OSError, TypeError):
            digest.update(Path(module.__file__).read_bytes())
    return {
        "disk": [f"{app}.{name}" for app, name in disk],
        "applied": sorted(f"{app}.{name}" for app, name in loader.applied_migrations),
        "digest": digest.hexdigest()[:16],
        "films": Vod.objects.filter(is_active=True).count(),
    }


def _staff():
    from django.contrib.auth import get_user_model

    staff, _ = get_user_model().objects.get_or_create(
        username=STAFF_USERNAME, defaults={"is_staff": True, "is_superuser": True}
    )
    if not staff.is_staff or not staff.is_superuser:
        staff.is_staff = staff.is_superuser = True
        staff.save(update_fields=["is_staff", "is_superuser"])
    if staff.has_usable_password():
        staff.set_unusable_password()
        staff.save(update_fields=["password"])
    return staff


def _cookie(user) -> str:
    """The `Cookie` header of a browser signed in as `user` (a new session)."""
    from django.conf import settings
    from django.test import Client

    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


def _search_kind(model, spec: str) -> str | None:
    """What to type in an admin search box to find rows by the field `spec` names:
    "purchase id", "username", "reference", "event id", "title", "type", "key", "id"
    (None for a field none of these fits)."""
    from django.db import models

    path = spec.lstrip("^=@").split("__")
    current, field = model, None
    for part in path:
        try:
            field = current._meta.get_field(part)
        except Exception:
            return None
        if field.is_relation and field.related_model is not None:
            current = field.related_model
    name = path[-1]
    if name == "username":
        return "username"
    if "reference" in name:
        return "reference"
    if isinstance(field, models.UUIDField):
        return "event id"
    if "title" in name:
        return "title"
    if name == "type":
        return "type"
    if name == "key":
        return "key"
    if name == "purchase_id" or (name == "id" and model._meta.model_name == "purchase"):
        return "purchase id"
    if name == "id":
        return "id"
    return None


DEFAULT_ADMIN_URLS = ("_changelist", "_add", "_history", "_delete", "_change", "_autocomplete")


def staff_addresses() -> list[dict]:
    """Every admin change list, each of its filters' choices (up to FILTER_CHOICES of
    each, "All" aside), a search of each kind its search fields take, and the admin's
    other pages (the index, the models' own views such as the sales overview), derived
    from `admin.site` as the store has it now. Search terms are filled in per store
    ("search" names the kind)."""
    from django.contrib import admin
    from django.test import RequestFactory
    from django.urls import reverse

    staff = _staff()
    factory = RequestFactory()
    found = [{"label": "admin index", "path": reverse("admin:index"), "admin": "index"}]
    registry = sorted(
        admin.site._registry.items(),
        key=lambda item: (item[0]._meta.app_label, item[0]._meta.model_name),
    )
    for model, model_admin in registry:
        opts = model._meta
        key = f"{opts.app_label}.{opts.model_name}"
        changelist = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
        found.append({"label": f"{key}: list", "path": changelist, "admin": key})
        request = factory.get(changelist)
        request.user = staff
        cl = model_admin.get_changelist_instance(request)
        for spec in cl.filter_specs:
            choices = [choice for choice in spec.choices(cl) if not choice["selected"]]
            for choice in choices[:FILTER_CHOICES]:
                found.append(
                    {
                        "label": f"{key}: {spec.title} = {choice['display']}",
                        "path": changelist + choice["query_string"],
                        "admin": key,
                    }
                )
        kinds = dict.fromkeys(
            kind
            for spec in model_admin.get_search_fields(request)
            if (kind := _search_kind(model, spec)) is not None
        )
        for kind in kinds:
            found.append(
                {
                    "label": f"{key}: search by {kind}",
                    "path": changelist,
                    "admin": key,
                    "search": kind,
                }
            )
        for pattern in model_admin.get_urls():
            name = getattr(pattern, "name", None)
            if name and not name.endswith(DEFAULT_ADMIN_URLS) and "<" not in str(pattern.pattern):
                found.append(
                    {"label": f"{key}: {name}", "path": reverse(f"admin:{name}"), "admin": key}
                )
    return found


def people(*, buyer_prefix: str = BUYER_PREFIX) -> dict:
    """Who the bench signs in as, in this store, and what it searches for: the staff
    account's session; the typical buyer (the median number of purchases) and the
    busiest, each with an API token, a session and their pages' addresses; and search
    terms taken from the typical buyer's latest purchase."""
    from django.contrib.auth import get_user_model
    from django.db.models import Count
    from django.urls import reverse
    from knox.models import AuthToken

    from mileage.models import MileageEntry
    from payment.models import Operation, Payment
    from purchase.models import Purchase
    from vodstore.auth import tokens_in_bulk
    from vodstore.models import OutboxEvent

    counts = list(
        Purchase.objects.filter(user__username__startswith=buyer_prefix)
        .values_list("user_id")
        .annotate(n=Count("id"))
        .order_by("n", "user_id")
    )
    if not counts:
        raise HistoryRefused("this store has no history buyers")
    typical, busiest = counts[len(counts) // 2], counts[-1]
    users = get_user_model().objects.in_bulk([typical[0], busiest[0]])
    pages = {
        "API: purchases": reverse("purchase-list"),
        "API: payments": reverse("payment-list"),
        "API: points": reverse("mileage"),
        "API: points ledger": reverse("mileage-entries"),
        "library": reverse("purchase:library"),
        "purchases page": reverse("purchase:list"),
        "points page": reverse("mileage:summary"),
    }
    buyers = {}
    for role, (user_id, n) in (("typical buyer", typical), ("busiest buyer", busiest)):
        user = users[user_id]
        AuthToken.objects.filter(user=user).delete()  # only this bench makes them
        buyers[role] = {
            "username": user.get_username(),
            "purchases": n,
            "token": tokens_in_bulk([user])[0],
            "cookie": _cookie(user),
        }
    latest = Purchase.objects.filter(user_id=typical[0]).order_by("-id").first()
    charge = (
        Payment.objects.filter(user_id=typical[0]).exclude(gateway_reference="").order_by("-id")
    ).first()
    operation = Operation.objects.filter(user_id=typical[0]).order_by("-id").first()
    entry = MileageEntry.objects.filter(purchase_id=latest.id).order_by("id").first()
    event = entry.event_id if entry else OutboxEvent.objects.values_list("id", flat=True).first()
    words = [word for word in latest.vod_title.split() if len(word) >= 4] or [latest.vod_title]
    terms = {
        "purchase id": str(latest.id),
        "username": users[typical[0]].get_username(),
        "reference": charge.gateway_reference if charge else "sim_",
        "event id": str(event),
        "title": words[0],
        "type": "PaymentCancelled",
        "key": operation.key if operation else "vodstore-",
        "id": str(latest.id),
    }
    objects = _change_pages({"typical buyer": typical[0], "busiest buyer": busiest[0]}, event)
    return {
        "staff": _cookie(_staff()),
        "buyers": buyers,
        "pages": pages,
        "terms": terms,
        "objects": objects,
    }


def _change_pages(buyers: dict[str, int], event: object) -> dict[str, dict[str, str]]:
    """For each model in the admin, the change page of an object of each buyer (by role):
    the account itself, the latest row that names the buyer (`user`, `account`), or, for
    the outbox, the event of the typical buyer's latest points; for a model no buyer
    has rows of, its latest row ("latest"). The account's and the ledger's pages show a
    buyer's whole history inline, so they are where years of it weigh."""
    from django.contrib import admin
    from django.contrib.auth import get_user_model
    from django.urls import reverse

    from mileage.models import MileageAccount
    from vodstore.models import OutboxEvent

    def of_buyer(model, user_id: int):
        if model in (get_user_model(), MileageAccount):
            return model.objects.filter(pk=user_id).values_list("pk", flat=True).first()
        names = {  # its own foreign keys only, not the relations that point at it
            field.name
            for field in model._meta.get_fields()
            if field.concrete and (field.many_to_one or field.one_to_one)
        }
        for name in ("user", "account"):
            if name in names:
                rows = model.objects.filter(**{f"{name}_id": user_id})
                return rows.order_by("-pk").values_list("pk", flat=True).first()
        return None

    found: dict[str, dict[str, str]] = {}
    for model in admin.site._registry:
        opts = model._meta
        key = f"{opts.app_label}.{opts.model_name}"
        url = f"admin:{opts.app_label}_{opts.model_name}_change"
        if model is OutboxEvent:
            pks = {"typical buyer": event}
        elif any(of_buyer(model, user_id) is not None for user_id in buyers.values()):
            pks = {role: of_buyer(model, user_id) for role, user_id in buyers.items()}
        else:
            pks = {"latest": model.objects.order_by("-pk").values_list("pk", flat=True).first()}
        pages = {role: reverse(url, args=[pk]) for role, pk in pks.items() if pk is not None}
        if pages:
            found[key] = pages
    return found


def explain(*, paths: list[str]) -> list[dict]:
    """Each admin page of `paths` asked in this process as the staff account: its
    status, time and queries, the slowest first, with the EXPLAIN (ANALYZE, BUFFERS)
    of the slowest query."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(raise_request_exception=False, HTTP_HOST="127.0.0.1")
    client.force_login(_staff())
    found = []
    for path in paths:
        client.get(path)  # once to warm what a first request sets up
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            response = client.get(path)
            ms = (time.perf_counter() - started) * 1000
        queries = sorted(
            ({"ms": float(q["time"]) * 1000, "sql": q["sql"]} for q in captured.captured_queries),
            key=lambda q: q["ms"],
            reverse=True,
        )
        plan = ""
        if queries and queries[0]["sql"].lstrip().upper().startswith("SELECT"):
            with connection.cursor() as cursor:
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + queries[0]["sql"])
                plan = "\n".join(row[0] for row in cursor.fetchall())
        found.append(
            {
                "path": path,
                "status": response.status_code,
                "ms": round(ms, 1),
                "queries": len(queries),
                "query_ms": round(sum(q["ms"] for q in queries), 1),
                "slowest": [{"ms": round(q["ms"], 1), "sql": q["sql"]} for q in queries[:3]],
                "plan": plan,
            }
        )
    return found


def sizes() -> dict:
    """The database's size, and the biggest tables' with their indexes, in bytes."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_database_size(current_database())")
        database = cursor.fetchone()[0]
        cursor.execute(
            """SELECT c.relname, pg_total_relation_size(c.oid), pg_relation_size(c.oid),
                c.reltuples::bigint
            FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
            WHERE c.relkind = 'r' AND n.nspname = current_schema()
            ORDER BY 2 DESC LIMIT 12"""
        )
        tables = [
            {"table": name, "total": total, "heap": heap, "rows": rows}
            for name, total, heap, rows in cursor.fetchall()
        ]
    return {"database": database, "tables": tables}


TASKS = {
    "build": build,
    "state": state,
    "staff_addresses": staff_addresses,
    "people": people,
    "explain": explain,
    "sizes": sizes,
}


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in TASKS:
        print(f"usage: python -m scripts.history_build {{{','.join(TASKS)}}} < JSON")
        return 2
    django.setup()
    arguments = json.loads(sys.stdin.read() or "{}")
    print(json.dumps(TASKS[argv[0]](**arguments), default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
