"""`make pruning` (`scripts.pruning`): its figures (percentiles, phases, what the pruner
said), its verdict, and its check that the events retention must keep are kept. The
run itself (gunicorn, buyers, a database of its own) is not started here."""

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from scripts import pruning
from scripts.pruning import Phase, Pruned, Sample
from vodstore.events import handler_name, handlers_for
from vodstore.models import EventDelivery, OutboxEvent

Status = OutboxEvent.Status


def test_percentile_is_the_nearest_rank():
    values = list(range(100, 0, -1))  # 1..100, unsorted
    assert pruning.percentile(values, 50) == 50
    assert pruning.percentile(values, 99) == 99
    assert pruning.percentile(values, 100) == 100
    assert pruning.percentile([3.0, 1.0, 2.0, 4.0], 50) == 2.0
    assert pruning.percentile(range(1, 11), 95) == 10  # rank 9.5 rounds up
    assert pruning.percentile([7.0], 99) == 7.0
    assert pruning.percentile([], 99) is None
    # a single slow request in a hundred is the p100, not the p99
    assert pruning.percentile([10.0] * 99 + [5000.0], 99) == 10.0
    assert pruning.percentile([10.0] * 98 + [5000.0] * 2, 99) == 5000.0


def test_phases_count_every_answer_but_2xx_as_failed():
    samples = [
        Sample("quiet", 10.0, 201),
        Sample("quiet", 30.0, 201),
        Sample("pruning", 50.0, 201),
        Sample("pruning", 900.0, 503),
        Sample("pruning", 60.0, 0),  # no answer
        Sample("pruning", 70.0, 409),
        Sample("after", 20.0, 201),
    ]
    seconds = {"quiet": 20, "pruning": 5, "after": 20}
    quiet, during, after = pruning.phases_of(samples, seconds, {"pruning": 90.0})
    assert (quiet.name, quiet.purchases, quiet.failed, quiet.requests) == ("quiet", 2, 0, 2)
    assert (quiet.p50, quiet.p99, quiet.max) == (10.0, 30.0, 30.0)
    assert (during.purchases, during.failed, during.max) == (1, 3, 900.0)
    assert during.statuses == {0: 1, 201: 1, 409: 1, 503: 1}
    assert after.seconds == 20 and after.purchases == 1
    assert (quiet.busy, during.busy) == (None, 90.0)


def test_a_phase_without_requests_has_no_figures():
    (empty,) = pruning.phases_of([Sample("quiet", 5.0, 201)], {"after": 20})
    assert (empty.requests, empty.p50, empty.p99, empty.max) == (0, None, None, None)


def old_event(status: str, *, days: int, handled: bool = True, planted: bool = False):
    when = timezone.now() - timedelta(days=days)
    row = OutboxEvent.objects.create(
        type="PaymentApproved",
        payload={},
        occurred_at=when,
        next_attempt_at=when + timedelta(days=60) if status == Status.PENDING else when,
        status=status,
        delivered_at=when if status == Status.DELIVERED else None,
        last_error=pruning.PLANTED if planted else "",
    )
    for handler in handlers_for(row.type) if handled else []:
        EventDelivery.objects.create(event=row, handler=handler_name(handler), delivered_at=when)
    return row


@pytest.mark.django_db
def test_the_pruners_own_words_are_read():
    """The command's output as it prints it, so that a change of its words shows here."""
    for _ in range(3):
        old_event(Status.DELIVERED, days=40)
    out = io.StringIO()
    call_command("prune_history", "-v", "2", "--batch-size", "2", stdout=out)
    pruned = pruning.pruned_of(out.getvalue())
    assert (pruned.events, pruned.batches, pruned.finished) == (3, 2, True)
    assert pruned.deliveries == 3 * len(handlers_for("PaymentApproved")) > 0
    assert len(pruned.batch_ms) == 2 and pruned.seconds >= 0
    assert pruning.pruned_of("Traceback ...\nboom") == Pruned()  # no summary: not finished


def test_a_pruner_cut_short_is_not_finished():
    said = (
        "batch: 1000 delivered event(s), 667 delivery and 0 retry record(s), 97 ms\n"
        "deleted 1000 outbox event(s) older than 30 days (1000 delivered), with 667 delivery "
        "and 0 retry record(s), in 1 batch(es), 0.10 s; more left for the next run; deleted "
        "0 expired idempotency key(s); deleted 12 gateway operation(s) that moved no money\n"
    )
    pruned = pruning.pruned_of(said)
    assert (pruned.events, pruned.deliveries, pruned.operations) == (1000, 667, 12)
    assert pruned.batch_ms == [97.0] and not pruned.finished


@pytest.mark.django_db
def test_the_check_finds_a_kept_event_gone_and_a_due_one_left():
    due = [old_event(Status.DELIVERED, days=40) for _ in range(2)]
    kept = [
        old_event(Status.DELIVERED, days=29),  # inside the window
        old_event(Status.FAILED, days=40, handled=False, planted=True),
        old_event(Status.PENDING, days=40, handled=False, planted=True),
    ]
    before = pruning.census()
    assert before["due"] == 2
    assert before["due_deliveries"] == 2 * len(handlers_for("PaymentApproved"))
    assert sorted(before["kept_ids"]) == sorted(str(e.pk) for e in kept)

    call_command("prune_history", stdout=io.StringIO())
    after = pruning.check(kept_ids=before["kept_ids"])
    assert (after["missing"], after["due_left"], after["books"]) == (0, 0, [])
    assert after["undelivered"] == 2  # the planted failed and pending ones, as planted

    # a retention that took a failed event, and left a due one
    OutboxEvent.objects.filter(pk=kept[1].pk).delete()
    due_again = old_event(Status.DELIVERED, days=40)
    spoiled = pruning.check(kept_ids=before["kept_ids"])
    assert (spoiled["missing"], spoiled["examples"]) == (1, [str(kept[1].pk)])
    assert spoiled["due_left"] == 1
    assert not OutboxEvent.objects.filter(pk__in=[e.pk for e in due]).exists()
    assert due_again.pk


@pytest.mark.django_db
def test_an_event_undelivered_that_was_not_planted_unbalances_the_books():
    old_event(Status.FAILED, days=40, handled=False, planted=True)
    stray = old_event(Status.FAILED, days=40, handled=False)
    found = pruning.check(kept_ids=[])["books"]
    assert len(found) == 1 and str(stray.pk) in found[0]


def phase(name: str, *, purchases: int = 100, failed: int = 0, p99: float = 200.0) -> Phase:
    return Phase(name, 20.0, purchases + failed, purchases, failed, 80.0, p99, 300.0, {})


GOOD = [phase("quiet"), phase("pruning", p99=350.0), phase("after")]
THROUGH = Pruned(events=5000, deliveries=3000, batches=5, seconds=4.2, finished=True)
BEFORE = {"due": 5000, "due_deliveries": 3000, "kept": 300}
AFTER = {"missing": 0, "examples": [], "due_left": 0, "events": 300, "undelivered": 2, "books": []}


def test_a_clean_run_has_no_problems_and_says_so_in_one_line():
    assert pruning.problems_of(GOOD, THROUGH, 0, BEFORE, AFTER) == []
    assert pruning.summary_line(THROUGH, GOOD, 0) == (
        "pruning: 5,000 events pruned in 4.2 s, purchase p99 quiet 200 ms, pruning 350 ms, "
        "after 200 ms, 0 failed"
    )


@pytest.mark.parametrize(
    ("spoil", "said"),
    [
        ({"phases": [phase("quiet"), phase("pruning", failed=3), phase("after")]}, "3 of 103"),
        ({"phases": [phase("quiet"), phase("pruning", purchases=0), phase("after")]}, "no purc"),
        ({"exit_code": None}, "stopped at the time limit"),
        ({"exit_code": 1}, "exited 1"),
        ({"pruned": Pruned(events=4000, finished=False)}, "did not get through"),
        ({"pruned": Pruned(events=4000, finished=True)}, "4000 events; 5000 were due"),
        ({"after": {**AFTER, "missing": 1, "examples": ["e1"]}}, "1 kept event(s) went missing"),
        ({"after": {**AFTER, "due_left": 7}}, "7 old delivered"),
        ({"after": {**AFTER, "books": ["account 3: balance 1000, ledger 0"]}}, "books: account"),
    ],
)
def test_each_failure_is_a_problem(spoil, said):
    run = {"phases": GOOD, "pruned": THROUGH, "exit_code": 0, "before": BEFORE, "after": AFTER}
    found = pruning.problems_of(**{**run, **spoil})
    assert len(found) == 1 and said in found[0], found


def test_the_summary_line_with_a_phase_missing():
    line = pruning.summary_line(Pruned(), [phase("quiet")], 2)
    assert line.endswith("quiet 200 ms, pruning - ms, after - ms, 2 failed")
