"""`make pruning`: what buyers feel while history retention deletes a large backlog
(issue 17); writes reports/pruning.md.

A PostgreSQL database of its own on the machine's server (`PRUNING_PG_URL`, default
vodstore_pruning at 127.0.0.1:5432; dropped at the end, and at the start if a run left
it; its name must say "pruning", so no other database is ever dropped), migrated, with
FILMS demo films and an old history made by `scripts.history_build.history_fill`
(purchases, payments, points, delivered outbox events with their delivery records:
about PRUNING_EVENTS events, 300,000, all older than OUTBOX_RETENTION_DAYS), plus
events retention must keep: delivered ones younger than the window, old failed ones
(some of their handlers' records written) and old pending ones (not due yet).

The store is served by gunicorn on 127.0.0.1 (DEBUG off, the simulated gateway without
latency, so that what is measured is the database), with the outbox worker beside it
(`outbox_worker --prune-every 0`), as in production. PRUNING_BUYERS (4) buyer threads
buy films through the API with their tokens (POST /api/purchases/), each going round
accounts of its own so that no purchase limit is met, in three phases: quiet
(PRUNING_QUIET_SECONDS, 20), while `manage.py prune_history -v 2` runs in its own
process (at most PRUNING_LIMIT_SECONDS, 300), and after (PRUNING_AFTER_SECONDS, 20).
Each purchase's latency and status are kept.

Then the checks: every event that was not delivered and old before the pruning is
still there (failed, pending, recent, and the buyers' own), no old delivered event is
left, the pruner deleted as many as were due, and the books balance
(`scripts.books`: points, balances, payments; no event undelivered but the failed and
pending ones planted). A table per phase (purchases, p50, p99, max, failures: any
answer but 2xx) and the pruner's figures (events, deliveries, batches, batch times) go
to stdout and reports/pruning.md; the last line is the summary. Exit 1 if anything
failed or a kept event went missing.

Knobs: PRUNING_EVENTS, PRUNING_BUYERS, PRUNING_QUIET_SECONDS, PRUNING_AFTER_SECONDS,
PRUNING_LIMIT_SECONDS, PRUNING_PG_URL, PRUNING_PORT (8781: the first port tried).
Traffic goes to 127.0.0.1 only; everything started is stopped by its process id.
"""

import contextlib
import http.client
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from scripts.history import machine_cpu
from scripts.runner import (
    HOST,
    ROOT,
    in_store,
    manage,
    port_in_use,
    report_write,
    run,
    serving,
    store_env,
    store_open,
)

PG_URL = os.environ.get("PRUNING_PG_URL", "postgres://postgres@127.0.0.1:5432/vodstore_pruning")
EVENTS = int(os.environ.get("PRUNING_EVENTS", "300000"))
BUYERS = int(os.environ.get("PRUNING_BUYERS", "4"))
QUIET_SECONDS = float(os.environ.get("PRUNING_QUIET_SECONDS", "20"))
AFTER_SECONDS = float(os.environ.get("PRUNING_AFTER_SECONDS", "20"))
LIMIT_SECONDS = float(os.environ.get("PRUNING_LIMIT_SECONDS", "300"))
PORT = int(os.environ.get("PRUNING_PORT", "8781"))

FILMS = 300  # demo films: enough for the history's busiest buyer and for ours
ACCOUNTS = 200  # the buyers' accounts, shared out among the threads
# A purchase of the history publishes about three events (PaymentApproved, VodPurchased,
# MileageChanged; a cancel three more, a film of ₩0 one fewer).
EVENTS_PER_PURCHASE = 3
HISTORY_DAYS = 365  # the old history's span, ending a day before the window
BUYER_PREFIX = "pruning-buyer-"
PLANTED = "planted by scripts.pruning: retention must keep it"
REQUEST_TIMEOUT = 60
GUNICORN = [
    *("--workers", "2", "--worker-class", "gthread", "--threads", "4"),
    *("--timeout", str(REQUEST_TIMEOUT)),
]
PHASES = ("quiet", "pruning", "after")


# --- pure figures (tests/test_pruning_tool.py) --------------------------------------------


def percentile(values: Sequence[float], q: float) -> float | None:
    """The nearest-rank `q`th percentile of `values` (None for none): the smallest value
    with at least q % of them at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q / 100 * len(ordered))) - 1]


@dataclass(frozen=True)
class Sample:
    """One purchase request: the phase it started in, its milliseconds and its status
    (0: no answer)."""

    phase: str
    ms: float
    status: int

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


@dataclass(frozen=True)
class Phase:
    name: str
    seconds: float
    requests: int
    purchases: int  # answered 2xx
    failed: int  # any other answer, or none
    p50: float | None
    p99: float | None
    max: float | None
    statuses: dict[int, int]
    busy: float | None = None  # % of the machine's CPU time in use meanwhile, all cores


def phases_of(
    samples: Sequence[Sample], seconds: dict[str, float], busy: dict[str, float] | None = None
) -> list[Phase]:
    """Each phase's figures, in the order of `seconds` (latencies of every request,
    whatever its answer), with how busy the machine was (`busy`, by phase) if known."""
    found = []
    for name, took in seconds.items():
        mine = [s for s in samples if s.phase == name]
        times = [s.ms for s in mine]
        statuses: dict[int, int] = {}
        for s in mine:
            statuses[s.status] = statuses.get(s.status, 0) + 1
        ok = sum(1 for s in mine if s.ok)
        found.append(
            Phase(
                name=name,
                seconds=took,
                requests=len(mine),
                purchases=ok,
                failed=len(mine) - ok,
                p50=percentile(times, 50),
                p99=percentile(times, 99),
                max=max(times) if times else None,
                statuses=dict(sorted(statuses.items())),
                busy=(busy or {}).get(name),
            )
        )
    return found


@dataclass
class Pruned:
    """What `manage.py prune_history -v 2` said it did."""

    events: int = 0
    deliveries: int = 0
    retries: int = 0
    batches: int = 0
    seconds: float = 0.0  # deleting events, as the command counts it
    finished: bool = False  # its summary was printed, with nothing left for a next run
    operations: int = 0  # gateway operations that moved no money
    batch_ms: list[float] = field(default_factory=list)


BATCH_LINE = re.compile(
    r"^batch: (\d+) \w+ event\(s\), (\d+) delivery and (\d+) retry record\(s\), (\d+) ms$"
)
SUMMARY_LINE = re.compile(
    r"^deleted (\d+) outbox event\(s\) older than \d+ days.*?, with (\d+) delivery and "
    r"(\d+) retry record\(s\), in (\d+) batch\(es\), ([0-9.]+) s"
)
OPERATIONS = re.compile(r"deleted (\d+) gateway operation\(s\)")


def pruned_of(output: str) -> Pruned:
    """Read the command's output: its batches' times and its summary."""
    pruned = Pruned()
    for line in output.splitlines():
        line = line.strip()
        if batch := BATCH_LINE.match(line):
            pruned.batch_ms.append(float(batch[4]))
        elif summary := SUMMARY_LINE.match(line):
            pruned.events, pruned.deliveries, pruned.retries, pruned.batches = (
                int(summary[i]) for i in range(1, 5)
            )
            pruned.seconds = float(summary[5])
            pruned.finished = "more left for the next run" not in line
            if operations := OPERATIONS.search(line):
                pruned.operations = int(operations[1])
    return pruned


def problems_of(
    phases: Sequence[Phase], pruned: Pruned, exit_code: int | None, before: dict, after: dict
) -> list[str]:
    """Everything that went wrong, in words: requests that failed, a phase without a
    purchase, the pruner not through (or not deleting what was due), a kept event gone,
    an old delivered one left, books that do not balance. `before` is the census taken
    before the pruning (`census`), `after` the check after it (`check`)."""
    found = [f"{p.name}: {p.failed} of {p.requests} purchases failed" for p in phases if p.failed]
    found += [f"{p.name}: no purchase was made" for p in phases if not p.purchases]
    if exit_code != 0:
        how = "was stopped at the time limit" if exit_code is None else f"exited {exit_code}"
        found.append(f"prune_history {how}")
    elif not pruned.finished:
        found.append("prune_history did not get through the backlog")
    elif pruned.events != before["due"]:
        found.append(f"prune_history deleted {pruned.events} events; {before['due']} were due")
    if after["missing"]:
        found.append(
            f"{after['missing']} kept event(s) went missing, e.g. {', '.join(after['examples'])}"
        )
    if after["due_left"]:
        found.append(f"{after['due_left']} old delivered event(s) left")
    found += [f"books: {problem}" for problem in after["books"]]
    return found


def summary_line(pruned: Pruned, phases: Sequence[Phase], failed: int) -> str:
    p99 = {p.name: p.p99 for p in phases}

    def ms(name: str) -> str:
        value = p99.get(name)
        return "-" if value is None else f"{value:,.0f}"

    return (
        f"pruning: {pruned.events:,} events pruned in {pruned.seconds:,.1f} s, purchase p99 "
        f"quiet {ms('quiet')} ms, pruning {ms('pruning')} ms, after {ms('after')} ms, "
        f"{failed} failed"
    )


def report_of(
    *,
    started: datetime,
    made: dict,
    before: dict,
    phases: Sequence[Phase],
    pruned: Pruned,
    wall: float,
    after: dict,
    problems: Sequence[str],
    line: str,
) -> str:
    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value:,.0f}"

    batch_p50, batch_p95 = percentile(pruned.batch_ms, 50), percentile(pruned.batch_ms, 95)
    kept = made["kept"]
    out = [
        f"# Purchases while pruning, {started:%Y-%m-%d %H:%M}, this machine "
        f"({os.cpu_count()} cores)",
        "",
        f"A store of its own on PostgreSQL with an old history of {made['purchases']:,} "
        f"purchases over {HISTORY_DAYS} days ending {made['days'] + 1} days ago "
        f"({before['due']:,} delivered events with {before['due_deliveries']:,} delivery "
        f"records, due for pruning after {made['days']} days), and, to be kept: "
        f"{kept['recent']:,} delivered events younger than that, {kept['failed']:,} old "
        f"failed and {kept['pending']:,} old pending ones. Served by gunicorn ("
        f"{' '.join(GUNICORN)}, DEBUG off, simulated gateway without latency) with the "
        f"outbox worker beside it; {BUYERS} buyer threads buying by card through the API "
        "(a request at a time each, without pause). The pruner: `manage.py prune_history "
        "-v 2` in its own process. Latencies of every request, from sending it to the last "
        "byte of its answer; failed: any answer but 2xx, or none. Machine busy: the share "
        "of all cores' time in use meanwhile, by anyone (other work on the machine too).",
        "",
        "| phase | seconds | purchases | p50 ms | p99 ms | max ms | failed | answers "
        "| machine busy |",
        "|---|---:|---:|---:|---:|---:|---:|---|---:|",
        *(
            f"| {p.name} | {p.seconds:,.1f} | {p.purchases:,} | {ms(p.p50)} | {ms(p.p99)} "
            f"| {ms(p.max)} | {p.failed:,} | "
            + ", ".join(f"{s or 'none'}: {n:,}" for s, n in p.statuses.items())
            + f" | {'-' if p.busy is None else f'{p.busy:.0f} %'} |"
            for p in phases
        ),
        "",
        "| pruning | |",
        "|---|---:|",
        f"| events deleted | {pruned.events:,} |",
        f"| delivery records deleted | {pruned.deliveries:,} |",
        f"| batches | {pruned.batches:,} |",
        f"| seconds deleting events (the command's count) | {pruned.seconds:,.1f} |",
        f"| seconds of the process (with Django's start) | {wall:,.1f} |",
        f"| batch ms, median / p95 / max | {ms(batch_p50)} / {ms(batch_p95)} / "
        f"{ms(max(pruned.batch_ms) if pruned.batch_ms else None)} |",
        f"| gateway operations that moved no money, deleted | {pruned.operations:,} |",
        "",
        f"Kept: {before['kept']:,} events were not due before the pruning (the planted "
        f"ones and the buyers' own); {after['missing']:,} of them missing afterwards; "
        f"{after['due_left']:,} old delivered events left; {after['events']:,} events in "
        f"the store at the end, {after['undelivered']:,} not delivered (the planted failed "
        "and pending ones). Books (`scripts.books`: points, balances, payments, events): "
        + ("balanced." if not after["books"] else f"{len(after['books'])} problem(s)."),
        "",
        *(["Problems:", "", *(f"- {p}" for p in problems), ""] if problems else []),
        line,
    ]
    return "\n".join(out) + "\n"


# --- inside the store (`runner.in_store(env, "pruning.fill", ...)`) ------------------------


def fill(*, events: int) -> dict:
    """An old history of about `events` delivered events (`history_fill`, ending a day
    before the retention window), and the events retention must keep: delivered ones
    inside the window, old failed ones (with some handlers' records) and old pending
    ones not due for a month; what was made."""
    from datetime import timedelta

    from django.conf import settings
    from django.db import transaction
    from django.utils import timezone

    from scripts.history_build import history_fill
    from vodstore.events import handler_name, handlers_for
    from vodstore.models import EventDelivery, OutboxEvent

    days = settings.OUTBOX_RETENTION_DAYS
    purchases = max(1, math.ceil(events / EVENTS_PER_PURCHASE))
    now = timezone.now()
    history_fill(
        purchases=purchases,
        buyers=max(20, purchases // 50),
        days=HISTORY_DAYS,
        end=now - timedelta(days=days + 1),
        say=lambda _: None,
    )
    kind = "PaymentApproved"
    handlers = [handler_name(h) for h in handlers_for(kind)]
    counts = {
        "recent": max(100, events // 100),
        "failed": max(50, events // 1000),
        "pending": max(20, events // 5000),
    }
    rows, deliveries = [], []
    for status, n in counts.items():
        for i in range(n):
            if status == "recent":  # spread over the window, 1 to days - 1 days old
                when = now - timedelta(days=1 + (days - 2) * i / max(1, n - 1))
            else:  # as old as the history
                when = now - timedelta(days=days + 1 + HISTORY_DAYS * i / n)
            row = OutboxEvent(
                type=kind,
                payload={},
                occurred_at=when,
                status={"recent": "delivered", "failed": "failed"}.get(status, "pending"),
                attempts=0 if status == "recent" else 5,
                # a pending one waits for its retry, a month away: no worker takes it
                next_attempt_at=now + timedelta(days=30) if status == "pending" else when,
                last_error=PLANTED,
                delivered_at=when if status == "recent" else None,
            )
            rows.append(row)
            done = handlers if status == "recent" else handlers[:1] if status == "failed" else []
            deliveries += [EventDelivery(event=row, handler=h, delivered_at=when) for h in done]
    with transaction.atomic():
        OutboxEvent.objects.bulk_create(rows, batch_size=2000)
        EventDelivery.objects.bulk_create(deliveries, batch_size=2000)
    return {"purchases": purchases, "days": days, "kept": counts}


def _due():
    """The events retention is to delete, by this tool's own reckoning (not
    `vodstore.retention`'s): delivered, longer ago than the window; as a condition."""
    from datetime import timedelta

    from django.conf import settings
    from django.db.models import Q
    from django.utils import timezone

    from vodstore.models import OutboxEvent

    cutoff = timezone.now() - timedelta(days=settings.OUTBOX_RETENTION_DAYS)
    return Q(status=OutboxEvent.Status.DELIVERED, delivered_at__lt=cutoff)


def census() -> dict:
    """Before the pruning: the events due and their delivery records, and the ids of
    every other event (those must all be there afterwards)."""
    from vodstore.models import EventDelivery, OutboxEvent

    condition = _due()
    due = OutboxEvent.objects.filter(condition)
    # the condition negated, not NOT IN (the due ones): that is a nested loop over them
    kept = OutboxEvent.objects.exclude(condition).values_list("pk", flat=True)
    return {
        "due": due.count(),
        "due_deliveries": EventDelivery.objects.filter(event__in=due.values("pk")).count(),
        "kept_ids": [str(pk) for pk in kept],
    }


def _event_named(line: str) -> str | None:
    """The event id a line of `books.events()` names ("event <id> <type> <status>: ...")."""
    words = line.split()
    return words[1] if len(words) > 1 and words[0] == "event" else None


def check(*, kept_ids: list[str]) -> dict:
    """After the pruning: which of `kept_ids` are gone, how many due events are left, and
    the books (`scripts.books`: points, balances, payments, and every event delivered
    but the failed and pending ones this tool planted)."""
    from scripts import books
    from vodstore.models import OutboxEvent

    present = set()
    for start in range(0, len(kept_ids), 10000):
        chunk = kept_ids[start : start + 10000]
        present.update(
            str(pk) for pk in OutboxEvent.objects.filter(pk__in=chunk).values_list("pk", flat=True)
        )
    missing = [pk for pk in kept_ids if pk not in present]
    planted = {
        str(pk)
        for pk in OutboxEvent.objects.filter(last_error=PLANTED)
        .exclude(status=OutboxEvent.Status.DELIVERED)
        .values_list("pk", flat=True)
    }
    undelivered = books.events()
    # books.events() names an event "event <id> <type> <status>: ..."
    unexpected = [
        e for e in undelivered if e.split()[:1] != ["event"] or e.split()[1] not in planted
    ]
    found = [*books.problems(), *unexpected]
    return {
        "missing": len(missing),
        "examples": missing[:5],
        "due_left": OutboxEvent.objects.filter(_due()).count(),
        "events": OutboxEvent.objects.count(),
        "undelivered": len(undelivered) - len(unexpected),
        "books": found[:20],
    }


# what `python -m scripts.in_store pruning.NAME` may run
TASKS = ("fill", "census", "check")


# --- the run ------------------------------------------------------------------------------


class Buyers:
    """`threads` buyers on 127.0.0.1:`port`, each buying by card as fast as answers come
    (one request at a time, a kept-alive connection each), going round its share of the
    accounts so that none meets the per-account purchase limit; every request's phase
    (the one it started in), milliseconds and status are kept."""

    def __init__(self, port: int, tokens: list[str], films: list[int], threads: int) -> None:
        self.port, self.films = port, films
        self.shares = [tokens[t::threads] for t in range(threads)]
        self.phase = PHASES[0]
        self.samples: list[Sample] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [
            threading.Thread(target=self._buy, args=(share,), daemon=True) for share in self.shares
        ]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=REQUEST_TIMEOUT + 5)

    def _buy(self, tokens: list[str]) -> None:
        bought = dict.fromkeys(tokens, 0)  # films bought by each account, in film order
        conn: http.client.HTTPConnection | None = None
        n = 0
        while not self.stop.is_set():
            token = tokens[n % len(tokens)]
            n += 1
            if bought[token] >= len(self.films):  # this account owns every film
                if all(b >= len(self.films) for b in bought.values()):
                    break
                continue
            body = json.dumps({"vod": self.films[bought[token]], "payment_method": "card"})
            headers = {
                "Authorization": f"Token {token}",
                "Content-Type": "application/json",
                "Accept": "application/json",
            }
            phase = self.phase
            if conn is None:
                conn = http.client.HTTPConnection(HOST, self.port, timeout=REQUEST_TIMEOUT)
            started = time.perf_counter()
            try:
                conn.request("POST", "/api/purchases/", body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                status = response.status
                if response.will_close:
                    conn.close()
                    conn = None
            except (http.client.HTTPException, OSError):
                status = 0
                conn.close()
                conn = None
            ms = (time.perf_counter() - started) * 1000
            if 200 <= status < 300 or status == 409:  # 409: owned already, go on
                bought[token] += 1
            with self.lock:
                self.samples.append(Sample(phase, ms, status))
        if conn is not None:
            conn.close()


@contextlib.contextmanager
def started(args: list[str], env: dict, log: Path) -> Iterator[subprocess.Popen]:
    """A process of ours for the duration of the block (its output to `log`), stopped by
    its process id: SIGTERM, then SIGKILL after 30 s."""
    with open(log, "w") as out:
        process = subprocess.Popen(  # noqa: S603 - our own commands
            args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )
        try:
            yield process
        finally:
            stop(process)


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def prune(env: dict, log: Path) -> int | None:
    """`manage.py prune_history -v 2` in its own process, to its end or the time limit;
    its exit code (None: stopped at the limit)."""
    with started([sys.executable, "manage.py", "prune_history", "-v", "2"], env, log) as process:
        try:
            return process.wait(timeout=LIMIT_SECONDS)
        except subprocess.TimeoutExpired:
            return None


class Stopwatch:
    """Each phase's seconds, and how busy the machine's cores were meanwhile."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.busy: dict[str, float] = {}

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        began, cpu = time.monotonic(), machine_cpu()
        try:
            yield
        finally:
            self.seconds[name] = time.monotonic() - began
            busy, total = (now - then for now, then in zip(machine_cpu(), cpu, strict=True))
            self.busy[name] = 100 * busy / max(1, total)


# --- the database ---------------------------------------------------------------------------


def database_name() -> str:
    name = urlsplit(PG_URL).path.lstrip("/")
    if "pruning" not in name:
        raise SystemExit(
            f"pruning: refusing the database {name!r}: this tool drops its database, whose "
            "name must say 'pruning' (PRUNING_PG_URL)"
        )
    return name


def pg_admin(query) -> None:
    """A statement on the server, from its maintenance database, in autocommit."""
    import psycopg

    server = urlunsplit(urlsplit(PG_URL)._replace(path="/postgres"))
    with psycopg.connect(server, autocommit=True, connect_timeout=10) as conn:
        conn.execute(query)


def database_drop(name: str) -> None:
    from psycopg import sql

    pg_admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def database_create(name: str) -> None:
    from psycopg import sql

    pg_admin(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def free_port() -> int:
    for port in range(PORT, PORT + 50):
        if not port_in_use(port):
            return port
    raise SystemExit(f"pruning: no free port in {PORT}-{PORT + 49}")


def _terminated(signum, frame) -> None:
    raise SystemExit(128 + signum)  # the finally blocks stop what was started


def say(text: str) -> None:
    print(text, flush=True)


def main() -> int:
    name = database_name()
    server = urlunsplit(urlsplit(PG_URL)._replace(path="/postgres"))
    probe = [sys.executable, "-m", "scripts.service_up", "postgres", server]
    if run(probe, check=False).returncode:
        say(f"pruning: PostgreSQL at {server} is unreachable")
        return 2
    signal.signal(signal.SIGTERM, _terminated)
    began = datetime.now()
    work = Path(tempfile.mkdtemp(prefix="vod-pruning-"))
    env = store_env(
        work,
        DATABASE_URL=PG_URL,
        PAYMENT_SIMULATED_LATENCY_MS="0",
        # the receipts' handler is deferred to the worker: due a second after the commit
        EVENTS_DISPATCH_GRACE_SECONDS="1",
    )
    try:
        database_drop(name)  # a run that was cut short leaves it
        database_create(name)
        t0 = time.monotonic()
        say(f"pruning: {name}: migrating, {FILMS} demo films")
        store_open(env, films=FILMS)
        say(f"  {time.monotonic() - t0:,.0f} s; an old history of about {EVENTS:,} events")
        t0 = time.monotonic()
        made = in_store(env, "pruning.fill", events=EVENTS)
        accounts = in_store(env, "seed.buyers", prefix=BUYER_PREFIX, count=ACCOUNTS, priced=True)
        say(f"  {time.monotonic() - t0:,.0f} s")
        port = free_port()
        clock = Stopwatch()
        with (
            serving(env, port, GUNICORN),
            started(
                [sys.executable, "manage.py", "outbox_worker", "--prune-every", "0"],
                env,
                work / "worker.log",
            ),
        ):
            buyers = Buyers(port, accounts["tokens"], accounts["films"], BUYERS)
            try:
                say(f"pruning: {BUYERS} buyers on 127.0.0.1:{port}; quiet {QUIET_SECONDS:.0f} s")
                with clock.phase("quiet"):
                    buyers.start()
                    time.sleep(QUIET_SECONDS)
                # the census's own queries weigh on the purchases meanwhile: not counted
                buyers.phase = "census"
                before = in_store(env, "pruning.census")
                say(f"pruning: prune_history, {before['due']:,} events due")
                buyers.phase = "pruning"
                with clock.phase("pruning"):
                    code = prune(env, work / "prune.log")
                buyers.phase = "after"
                took = clock.seconds["pruning"]
                say(f"  {took:,.1f} s (exit {code}); after {AFTER_SECONDS:.0f} s")
                with clock.phase("after"):
                    time.sleep(AFTER_SECONDS)
                    buyers.finish()  # the requests under way are answered, and counted
            finally:
                buyers.finish()
        # what the store still owes (receipts deferred to the worker), as in a drill
        time.sleep(2)
        manage(env, "outbox_worker", "--until-idle", "--prune-every", "0")
        after = in_store(env, "pruning.check", kept_ids=before["kept_ids"])
        pruned = pruned_of((work / "prune.log").read_text())
    finally:
        with contextlib.suppress(Exception):
            database_drop(name)
        shutil.rmtree(work, ignore_errors=True)
    before["kept"] = len(before.pop("kept_ids"))
    phases = phases_of(buyers.samples, clock.seconds, clock.busy)
    problems = problems_of(phases, pruned, code, before, after)
    failed = sum(p.failed for p in phases)
    line = summary_line(pruned, phases, failed)
    text = report_of(
        started=began,
        made=made,
        before=before,
        phases=phases,
        pruned=pruned,
        wall=clock.seconds["pruning"],
        after=after,
        problems=problems,
        line=line,
    )
    print("\n" + text)
    written = report_write("pruning", text)
    say(f"written to {written} in {(datetime.now() - began).seconds:,} s")
    say(line)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
