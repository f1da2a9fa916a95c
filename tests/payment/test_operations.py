"""Money survives crashes: every gateway operation is recorded before it is made, the
database (never an exception) decides between capture and void, and the reconciler
finishes whatever a crash left in doubt, so that the store's books and the gateway's
ledger agree. A "crash" here is a `Crash` raised at one step with the work a dead
process would still have done (settling the payment, releasing an idempotency claim)
switched off."""

import io
import threading
import time
from datetime import timedelta

import pytest
import redis
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.utils import timezone
from rest_framework.test import APIClient

from catalog.models import Vod
from payment import services as payment_services
from payment.adapters.simulated import SimulatedGateway
from payment.exceptions import PaymentUnavailable
from payment.gateway import use_gateway
from payment.guard import CircuitBreaker, GuardConfig, PaymentGuard, reset_guard
from payment.models import Operation, Payment
from payment.reconcile import payments_check, payments_reconcile
from payment.simulator import Knobs
from purchase import idempotency
from purchase import services as purchase_services
from purchase.exceptions import AlreadyOwned
from purchase.models import IdempotencyKey, Purchase
from tests.conftest import assert_books_balance, make_vod
from vodstore import events
from vodstore.models import OutboxEvent

pytestmark = pytest.mark.django_db(transaction=True)

Kind, State = Operation.Kind, Operation.State


class Crash(BaseException):
    """The process dies here (kill -9): nothing after this point runs."""


@pytest.fixture
def dead_process(monkeypatch):
    """What a killed process never gets to do: settle its payment, release its claim."""
    monkeypatch.setattr(purchase_services, "payment_settle", lambda **kwargs: None)
    monkeypatch.setattr(idempotency, "idempotency_release", lambda **kwargs: None)


def buy(user, vod: Vod) -> Purchase | None:
    try:
        return purchase_services.purchase_create(user_id=user.id, vod_id=vod.id).purchase
    except Crash:
        return None


def crash_after(monkeypatch, target, name: str) -> None:
    """Let `target.name` do its work, then crash."""
    real = getattr(target, name)

    def run_then_crash(*args, **kwargs):
        real(*args, **kwargs)
        raise Crash

    monkeypatch.setattr(target, name, run_then_crash)


def crash_before(monkeypatch, target, name: str) -> None:
    def crash(*args, **kwargs):
        raise Crash

    monkeypatch.setattr(target, name, crash)


def assert_books_agree_with_the_gateway(gateway) -> None:
    assert payments_check(grace_seconds=0) == []
    paid = Payment.objects.filter(status="approved", method="card").exclude(amount=0)
    assert sorted(gateway.kept_charges) == sorted(p.gateway_reference for p in paid)
    assert sorted(gateway.captures) == sorted(set(gateway.captures)), "captured twice"
    assert sorted(gateway.refunds) == sorted(set(gateway.refunds)), "refunded twice"
    assert_books_balance()


# --- a crash at each step of a card purchase ----------------------------------------------


def crash_before_the_authorization(monkeypatch, gateway, dead):
    crash_before(monkeypatch, gateway, "authorize")


def crash_after_the_authorization(monkeypatch, gateway, dead):
    crash_after(monkeypatch, gateway, "authorize")


def crash_after_recording_the_authorization(monkeypatch, gateway, dead):
    crash_before(monkeypatch, purchase_services.Purchase.objects, "create")


def crash_inside_the_transaction(monkeypatch, gateway, dead):
    crash_after(monkeypatch, purchase_services, "payment_record")


def crash_after_the_commit(monkeypatch, gateway, dead):
    pass  # the dead process never settles: the capture stays to be made


def crash_after_the_capture(monkeypatch, gateway, dead):
    monkeypatch.undo()  # this process lives long enough to call the gateway
    crash_after(monkeypatch, gateway, "capture")


@pytest.mark.parametrize(
    ("crash", "committed", "in_doubt"),
    [
        (crash_before_the_authorization, False, {Kind.AUTHORIZE}),
        (crash_after_the_authorization, False, {Kind.AUTHORIZE}),
        (crash_after_recording_the_authorization, False, set()),
        (crash_inside_the_transaction, False, set()),
        (crash_after_the_commit, True, {Kind.CAPTURE}),
        (crash_after_the_capture, True, {Kind.CAPTURE}),
    ],
)
def test_a_crash_at_any_step_is_reconciled_to_books_that_agree(
    crash, committed, in_doubt, user, vod, gateway, monkeypatch, dead_process
):
    crash(monkeypatch, gateway, dead_process)

    buy(user, vod)

    assert Purchase.objects.exists() == committed
    assert set(Operation.objects.filter(state=State.PENDING).values_list("kind", flat=True)) == (
        in_doubt
    )
    monkeypatch.undo()
    done = payments_reconcile(grace_seconds=0)
    assert Operation.objects.filter(state=State.PENDING).count() == 0
    assert_books_agree_with_the_gateway(gateway)
    if committed:
        assert gateway.captures == [Payment.objects.get().gateway_reference]
    else:
        assert gateway.kept_charges == [] and not Payment.objects.exists()
        assert gateway.captures == []
    assert payments_reconcile(grace_seconds=0) == {}, f"a second pass after {done} found work"


def test_operations_young_enough_to_be_under_way_are_left_alone(user, vod, gateway, monkeypatch):
    crash_after(monkeypatch, gateway, "authorize")
    monkeypatch.setattr(purchase_services, "payment_settle", lambda **kwargs: None)
    buy(user, vod)

    assert payments_reconcile(grace_seconds=60) == {}
    assert Operation.objects.get().state == State.PENDING
    assert gateway.voids == []


def bought_meanwhile(monkeypatch, user, vod) -> None:
    """Another request buys `vod` between this one's ownership check and its commit."""
    real_owns = purchase_services._owns
    checks = []

    def owns_after_the_first_check(**kwargs):
        checks.append(kwargs)
        return len(checks) > 1 and real_owns(**kwargs)

    monkeypatch.setattr(purchase_services, "_owns", owns_after_the_first_check)
    Purchase.objects.create(
        user=user, vod_id=vod.id, vod_title=vod.title, payment_method="card", amount=1
    )


def test_a_lost_race_voids_the_authorization_it_took(user, vod, gateway, monkeypatch):
    bought_meanwhile(monkeypatch, user, vod)

    with pytest.raises(Exception, match="already own"):
        purchase_services.purchase_create(user_id=user.id, vod_id=vod.id)

    assert len(gateway.charges) == 1 and gateway.voids == [gateway.charges[0][0]]
    assert Operation.objects.get(kind=Kind.VOID).state == State.SUCCEEDED


def test_a_void_that_fails_is_finished_by_the_reconciler(user, vod, gateway, monkeypatch):
    bought_meanwhile(monkeypatch, user, vod)
    real_void = gateway.void

    def void_while_down(**kwargs):
        gateway.fail = True
        try:
            real_void(**kwargs)
        finally:
            gateway.fail = False

    monkeypatch.setattr(gateway, "void", void_while_down)
    with pytest.raises(Exception, match="already own"):
        purchase_services.purchase_create(user_id=user.id, vod_id=vod.id)
    assert gateway.voids == [] and Operation.objects.get(kind=Kind.VOID).state == State.PENDING

    monkeypatch.undo()
    payments_reconcile(grace_seconds=0)

    assert gateway.voids == [gateway.charges[0][0]]


def test_a_charge_that_arrives_after_the_guard_timed_out_is_voided(user, vod, gateway, monkeypatch):
    config = GuardConfig.from_settings()
    reset_guard(PaymentGuard(GuardConfig(**{**config.__dict__, "call_timeout": 0.05})))
    real_authorize = gateway.authorize

    def slow_authorize(**kwargs):
        time.sleep(0.3)
        return real_authorize(**kwargs)

    monkeypatch.setattr(gateway, "authorize", slow_authorize)

    with pytest.raises(PaymentUnavailable):
        purchase_services.purchase_create(user_id=user.id, vod_id=vod.id)
    time.sleep(0.5)  # the late answer arrives at the gateway, not at the store
    assert len(gateway.charges) == 1 and gateway.voids == []

    payments_reconcile(grace_seconds=0)

    assert gateway.voids == [gateway.charges[0][0]] and not Purchase.objects.exists()
    assert_books_agree_with_the_gateway(gateway)


def test_a_redis_error_after_a_successful_charge_keeps_the_purchase(
    user, vod, gateway, monkeypatch
):
    def redis_down(*args, **kwargs):
        raise redis.ConnectionError("Redis went away")

    monkeypatch.setattr(CircuitBreaker, "record", redis_down)

    purchase = buy(user, vod)

    assert purchase is not None and purchase.status == "paid"
    assert gateway.voids == [] and gateway.captures == [gateway.charges[0][0]]
    assert_books_agree_with_the_gateway(gateway)


def race_attach_against_release(user, vod) -> dict:
    """A purchase attaching a fresh authorization, and the reconciler releasing it, at
    once in two threads; then what purchase_create does after its transaction."""
    authorization = payment_services.payment_authorize(
        method="card", price=vod.price, user_id=user.id
    )
    operation = Operation.objects.get(pk=authorization.operation_id)
    start = threading.Barrier(2)
    outcome = {}

    def purchase():
        start.wait()
        try:
            with transaction.atomic():
                bought = Purchase.objects.create(
                    user=user,
                    vod_id=vod.id,
                    vod_title=vod.title,
                    payment_method="card",
                    amount=vod.price,
                )
                payment_services.payment_record(
                    authorization=authorization, user_id=user.id, purchase_id=bought.id
                )
            outcome["purchase"] = "committed"
        except PaymentUnavailable:
            outcome["purchase"] = "refused"
        finally:
            connection.close()

    def reconciler():
        start.wait()
        try:
            outcome["released"] = payment_services.authorization_release(authorization=operation)
        finally:
            connection.close()

    threads = [threading.Thread(target=purchase), threading.Thread(target=reconciler)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    payment_services.payment_settle(authorization=authorization)
    return outcome


def test_the_reconciler_and_a_late_purchase_never_both_win(user, gateway):
    """Real threads. Either the purchase commits and keeps its charge, or it is refused
    and the charge is voided; never a paid purchase without its charge."""
    for _ in range(8):
        outcome = race_attach_against_release(user, make_vod(price=3000))
        assert (outcome["purchase"] == "committed") != outcome["released"], outcome
    assert_books_agree_with_the_gateway(gateway)


# --- after the commit -----------------------------------------------------------------------


def test_a_dispatch_that_raises_after_commit_keeps_the_charge_and_answers_201(
    user, vod, gateway, monkeypatch
):
    def broken_dispatch(row):
        raise RuntimeError("the event bus is broken")

    monkeypatch.setattr(events, "_dispatch_fresh", broken_dispatch)
    client = APIClient()
    client.force_authenticate(user)

    response = client.post("/api/purchases/", {"vod": vod.id}, format="json")

    assert response.status_code == 201
    assert Purchase.objects.get().status == "paid"
    reference = Payment.objects.get().gateway_reference
    assert gateway.captures == [reference] and gateway.voids == []
    # the events wait for the worker, which delivers them
    assert OutboxEvent.objects.filter(status="pending").exists()
    monkeypatch.undo()
    events.retry_now(OutboxEvent.objects.values_list("id", flat=True))
    assert_books_agree_with_the_gateway(gateway)


def test_a_retry_after_the_first_request_died_resumes_its_authorization(
    user, vod, gateway, monkeypatch, dead_process
):
    client = APIClient()
    client.force_authenticate(user)
    headers = {"HTTP_IDEMPOTENCY_KEY": "buy-once"}
    crash_after(monkeypatch, gateway, "authorize")
    with pytest.raises(Crash):
        client.post("/api/purchases/", {"vod": vod.id}, format="json", **headers)
    monkeypatch.undo()
    assert len(gateway.charges) == 1 and not Purchase.objects.exists()

    # within the claim's lease the request might still be running
    early = client.post("/api/purchases/", {"vod": vod.id}, format="json", **headers)
    assert early.status_code == 409 and early["Retry-After"] == "1"

    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(seconds=11))
    retried = client.post("/api/purchases/", {"vod": vod.id}, format="json", **headers)

    assert retried.status_code == 201
    assert len(gateway.charges) == 1, "the retry must not charge again"
    assert Operation.objects.filter(kind=Kind.AUTHORIZE).count() == 1
    assert Payment.objects.get().gateway_reference == gateway.charges[0][0]
    again = client.post("/api/purchases/", {"vod": vod.id}, format="json", **headers)
    assert again.status_code == 201 and again["Idempotent-Replayed"] == "true"
    assert_books_agree_with_the_gateway(gateway)


def refusing_guard(monkeypatch) -> None:
    """The breaker open for calls (as after a run of slow ones)."""
    from payment.guard import GuardRefused, get_guard

    def refuse(*args, **kwargs):
        raise GuardRefused(retry_after=1)

    monkeypatch.setattr(get_guard(), "call", refuse)


def test_a_retry_refused_by_the_guard_leaves_the_earlier_attempt_in_doubt(
    user, vod, gateway, monkeypatch
):
    """The first attempt's authorization reached the gateway, its answer lost; the
    retry is refused by the guard before sending anything. The authorization is not
    "never sent": it stays in doubt, and the reconciler finds it held and voids it
    (`make faults` found it held for nothing when the retry marked it failed)."""
    gateway.lose_answers = True
    with pytest.raises(PaymentUnavailable):
        purchase_services.purchase_create(user_id=user.id, vod_id=vod.id, request_key="k")
    gateway.lose_answers = False
    assert len(gateway.charges) == 1

    refusing_guard(monkeypatch)
    with pytest.raises(PaymentUnavailable):
        purchase_services.purchase_create(user_id=user.id, vod_id=vod.id, request_key="k")
    monkeypatch.undo()

    authorization = Operation.objects.get(kind=Kind.AUTHORIZE)
    assert authorization.state == State.PENDING, authorization.last_error
    assert "never sent" not in authorization.last_error
    payments_reconcile(grace_seconds=0)
    assert gateway.voids == [gateway.charges[0][0]]
    assert payments_check(grace_seconds=0) == []
    assert not Purchase.objects.exists()


def test_a_request_refused_by_the_guard_before_sending_has_failed(user, vod, gateway, monkeypatch):
    refusing_guard(monkeypatch)
    with pytest.raises(PaymentUnavailable):
        purchase_services.purchase_create(user_id=user.id, vod_id=vod.id, request_key="k")

    authorization = Operation.objects.get(kind=Kind.AUTHORIZE)
    assert authorization.state == State.FAILED
    assert authorization.last_error == "refused by the guard: never sent"
    assert gateway.charges == []


def test_a_retry_of_a_request_that_already_bought_is_told_of_its_purchase(user, vod, gateway):
    first = purchase_services.purchase_create(user_id=user.id, vod_id=vod.id, request_key="k1")

    again = purchase_services.purchase_create(user_id=user.id, vod_id=vod.id, request_key="k1")

    assert again.purchase.id == first.purchase.id and again.payment == first.payment
    assert len(gateway.charges) == 1
    with pytest.raises(AlreadyOwned):
        purchase_services.purchase_create(user_id=user.id, vod_id=vod.id, request_key="k2")
    with pytest.raises(AlreadyOwned):
        purchase_services.purchase_create(user_id=user.id, vod_id=vod.id)
    assert len(gateway.charges) == 1


# --- refunds ------------------------------------------------------------------------------


def cancel(user, purchase: Purchase) -> None:
    purchase_services.purchase_cancel(user_id=user.id, purchase_id=purchase.id)


def test_a_refund_whose_answer_was_lost_refunds_once_however_it_is_retried(user, vod, gateway):
    purchase = buy(user, vod)
    reference = Payment.objects.get().gateway_reference

    gateway.lose_answers = True
    cancel(user, purchase)  # the handler's refund goes through; its answer does not
    gateway.lose_answers = False
    assert gateway.refunds == [reference]
    assert Payment.objects.get().status == "approved"
    assert Operation.objects.get(kind=Kind.REFUND).state == State.PENDING

    payments_reconcile(grace_seconds=0)  # the reconciler repeats it with its key
    event = OutboxEvent.objects.get(type="VodPurchaseCancelled")
    events.retry_now([event.id])  # and so does the handler's retry

    assert gateway.refunds == [reference]
    assert Payment.objects.get().status == "cancelled"
    assert_books_agree_with_the_gateway(gateway)


def test_two_handlers_cancelling_at_once_refund_once(user, vod, gateway):
    purchase = buy(user, vod)
    Purchase.objects.filter(pk=purchase.pk).update(status="cancelled")
    start = threading.Barrier(2)

    def handler():
        start.wait()
        try:
            payment_services.payment_cancel(purchase_id=purchase.id)
        finally:
            connection.close()

    threads = [threading.Thread(target=handler) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert gateway.refunds == [Payment.objects.get().gateway_reference]
    assert Operation.objects.filter(kind=Kind.REFUND).count() == 1


def test_cancelling_before_the_capture_captures_then_refunds(user, vod, gateway, monkeypatch):
    monkeypatch.setattr(purchase_services, "payment_settle", lambda **kwargs: None)
    purchase = buy(user, vod)
    assert gateway.captures == []

    cancel(user, purchase)

    reference = Payment.objects.get().gateway_reference
    assert gateway.captures == [reference] and gateway.refunds == [reference]
    assert_books_agree_with_the_gateway(gateway)


# --- the check --------------------------------------------------------------------------------


def test_reconcile_check_passes_when_the_books_agree(user, gateway):
    for vod in (make_vod(), make_vod(), make_vod(price=0)):
        purchase = buy(user, vod)
    cancel(user, purchase)
    out = io.StringIO()

    call_command("payments_reconcile", "--check", stdout=out)

    assert "agree" in out.getvalue()


def test_reconcile_check_fails_on_a_charge_kept_for_no_purchase(user, vod, gateway):
    buy(user, vod)
    stray = gateway.authorize(amount=7000, idempotency_key="stray")
    gateway.capture(reference=stray.reference, amount=7000, idempotency_key="stray-capture")
    out = io.StringIO()

    with pytest.raises(CommandError, match="1 disagreement"):
        call_command("payments_reconcile", "--check", stdout=out)

    assert f"charge {stray.reference}: ₩7000 kept for no paid purchase" in out.getvalue()


def test_reconcile_check_fails_on_a_paid_purchase_whose_charge_was_voided(user, vod, gateway):
    buy(user, vod)
    gateway.captures.clear()
    gateway.voids.append(Payment.objects.get().gateway_reference)

    problems = payments_check(grace_seconds=0)

    assert len(problems) == 1 and "paid, but its charge" in problems[0]


def test_the_reconcile_command_finishes_what_is_in_doubt(user, vod, gateway, monkeypatch):
    monkeypatch.setattr(purchase_services, "payment_settle", lambda **kwargs: None)
    buy(user, vod)
    out = io.StringIO()

    call_command("payments_reconcile", "--grace", "0", stdout=out)

    assert "capture succeeded: 1" in out.getvalue()
    assert gateway.captures == [Payment.objects.get().gateway_reference]


def test_a_lookup_after_the_deadline_is_final_so_a_slow_charge_is_never_orphaned(
    user, vod, settings, tmp_path, monkeypatch
):
    """The guard gives up after its timeout; the call goes on in its thread and reaches
    the processor after the caller's deadline: the processor makes nothing, so the
    reconciler's lookup (which waits out the grace period) can say "never made"."""
    settings.PAYMENT_GATEWAY_TIMEOUT = 0.1
    simulated = SimulatedGateway(
        ledger=str(tmp_path / "gateway.sqlite3"), knobs=Knobs(latency_ms=(400.0, 400.0))
    )
    config = GuardConfig.from_settings()
    reset_guard(PaymentGuard(GuardConfig(**{**config.__dict__, "call_timeout": 0.05})))
    with use_gateway(simulated):
        with pytest.raises(PaymentUnavailable):
            purchase_services.purchase_create(user_id=user.id, vod_id=vod.id)
        time.sleep(0.6)  # the abandoned call reaches the processor, too late

        payments_reconcile(grace_seconds=0)

        assert Operation.objects.get(kind=Kind.AUTHORIZE).state == State.FAILED
        assert simulated.ledger()["charges"] == []
        assert payments_check(grace_seconds=0) == []


def late_arrival(user, simulated, *, made_ago: timedelta) -> Operation:
    """An authorization the reconciler found the gateway had never heard of, which then
    reached the gateway after all (held up on the way)."""
    operation = Operation.objects.create(
        kind=Kind.AUTHORIZE, gateway=simulated.name, amount=1000, user=user, request_key="r1"
    )
    payments_reconcile(grace_seconds=0)  # not heard of: failed
    operation.refresh_from_db()
    assert (operation.state, operation.last_error) == (State.FAILED, "never reached the gateway")
    long_ago = timezone.now() - made_ago
    Operation.objects.filter(pk=operation.pk).update(created_at=long_ago, updated_at=long_ago)
    simulated.authorize(amount=1000, idempotency_key=operation.key)  # ... and then it arrives
    return operation


def test_an_authorization_that_reaches_the_gateway_late_is_voided(user, tmp_path):
    simulated = SimulatedGateway(ledger=str(tmp_path / "gateway.sqlite3"))
    with use_gateway(simulated):
        operation = late_arrival(user, simulated, made_ago=timedelta(minutes=5))
        # the buyer tried again a moment ago: a live authorization of the same request
        again = Operation.objects.create(
            kind=Kind.AUTHORIZE, gateway=simulated.name, amount=1000, user=user, request_key="r1"
        )
        Operation.objects.filter(pk=again.pk).update(state=State.SUCCEEDED)
        assert payments_check(grace_seconds=0)  # a charge held for nothing, for now

        done = payments_reconcile(grace_seconds=60)

        operation.refresh_from_db()
        assert done["late authorization voided"] == 1
        assert operation.state == State.SUCCEEDED and operation.released_at is not None
        assert operation.purchase_id is None and operation.reference
        void = Operation.objects.get(authorization=operation, kind=Kind.VOID)
        assert void.state == State.SUCCEEDED
        charge = {c["reference"]: c for c in simulated.ledger()["charges"]}[operation.reference]
        assert charge["status"] == "voided"
        # the buyer's new authorization is untouched, and nothing is looked up twice
        again.refresh_from_db()
        assert again.released_at is None and again.state == State.SUCCEEDED
        assert payments_reconcile(grace_seconds=60)["late authorization voided"] == 0


def test_after_the_late_window_an_unheard_authorization_is_not_looked_up_again(
    user, tmp_path, settings
):
    settings.PAYMENT_LATE_AUTHORIZATION_SECONDS = 3600
    simulated = SimulatedGateway(ledger=str(tmp_path / "gateway.sqlite3"))
    with use_gateway(simulated):
        operation = late_arrival(user, simulated, made_ago=timedelta(hours=2))
        assert payments_reconcile(grace_seconds=0)["late authorization voided"] == 0
        operation.refresh_from_db()
        assert operation.state == State.FAILED
        # and the check still says so: a person looks at it
        assert any("held for no paid purchase" in p for p in payments_check(grace_seconds=0))


# --- history: operations that moved no money go after PAYMENT_OPERATION_RETENTION_DAYS --


def aged(operation: Operation, days: int) -> Operation:
    long_ago = timezone.now() - timedelta(days=days)
    Operation.objects.filter(pk=operation.pk).update(created_at=long_ago, updated_at=long_ago)
    if operation.released_at is not None:
        Operation.objects.filter(pk=operation.pk).update(released_at=long_ago)
    return operation


def released_with(user, void_state: str, days: int) -> Operation:
    hold = Operation.objects.create(
        kind=Kind.AUTHORIZE,
        state=State.SUCCEEDED,
        gateway="fake",
        amount=1000,
        user=user,
        reference="ch_1",
        released_at=timezone.now(),
    )
    Operation.objects.create(
        kind=Kind.VOID,
        state=void_state,
        gateway="fake",
        amount=0,
        user=user,
        reference="ch_1",
        authorization=hold,
    )
    return aged(hold, days)


def test_old_operations_that_moved_no_money_go_and_a_purchases_stay(user, vod, gateway, settings):
    settings.PAYMENT_OPERATION_RETENTION_DAYS = 180
    bought = buy(user, vod)  # authorization and capture, a purchase's: they stay
    for operation in Operation.objects.all():
        aged(operation, 400)
    declined = aged(
        Operation.objects.create(
            kind=Kind.AUTHORIZE, state=State.FAILED, gateway="fake", amount=1000, user=user
        ),
        400,
    )
    recent_decline = aged(
        Operation.objects.create(
            kind=Kind.AUTHORIZE, state=State.FAILED, gateway="fake", amount=1000, user=user
        ),
        10,
    )
    voided = released_with(user, State.SUCCEEDED, 400)
    void_in_doubt = released_with(user, State.PENDING, 400)
    void_refused = released_with(user, State.FAILED, 400)
    kept_before = set(Operation.objects.filter(purchase_id=bought.id).values_list("pk", flat=True))
    kept_before |= set(
        Operation.objects.filter(authorization__purchase_id=bought.id).values_list("pk", flat=True)
    )

    deleted = payment_services.operations_prune(batch_size=1)

    left = set(Operation.objects.values_list("pk", flat=True))
    assert deleted == 3  # the decline, the released hold and its void
    assert declined.pk not in left and voided.pk not in left
    assert not Operation.objects.filter(authorization_id=voided.pk).exists()
    assert {recent_decline.pk, void_in_doubt.pk, void_refused.pk} <= left
    assert kept_before and kept_before <= left
    assert_books_balance()
    assert payment_services.operations_prune() == 0
