"""`make faults`: crashes and outages, and whether the money survives them.

Starts everything it breaks, on ports of its own on 127.0.0.1: a Redis (6391), a
PostgreSQL cluster (5491), the simulated card processor as its own process with its
own ledger (8791), gunicorn with three workers (8792) and an outbox worker. Twenty
buyers (threads, urllib) buy by card and with points, double-click, lose answers and
retry with the same Idempotency-Key, cancel and browse, while each phase breaks one
thing a third of the way in and heals it at two thirds. After each phase the store
settles (outbox drained, payments reconciled) and the books (`scripts.books.faults`)
are checked against what the buyers were told and against the processor's ledger.
Everything it started is stopped by process id at the end, also on an error or Ctrl-C.

FAULTS_SECONDS sets each phase's load (default 15 s); FAULTS_PHASES runs a subset
(comma-separated names from PHASES).
"""

import contextlib
import http.client
import json
import os
import random
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from scripts import lab
from scripts.runner import (
    HOST,
    ROOT,
    children,
    command,
    in_store,
    manage,
    port_in_use,
    report_write,
    store_env,
    store_open,
    wait_for,
)

REDIS_PORT, PG_PORT, GATEWAY_PORT, WEB_PORT = 6391, 5491, 8791, 8792
STORE = f"http://{HOST}:{WEB_PORT}"
GATEWAY = f"http://{HOST}:{GATEWAY_PORT}"
SECONDS = float(os.environ.get("FAULTS_SECONDS", "15"))
BUYERS = 20  # concurrent buyers in a phase
ACCOUNTS = 40  # buyer accounts: a phase uses half of them, the next the other half
FILMS = 300
WARM_UP_BUYS = 6  # card purchases per account before the first phase: 6000 points
GATEWAY_LATENCY = "50-150"  # ms, the processor on a normal day
RECONCILE_GRACE = 5  # PAYMENT_RECONCILE_GRACE_SECONDS: younger operations are left alone
EVENTS_RETRY_MAX = 5  # EVENTS_RETRY_MAX_SECONDS: a failed handler is retried within this
REQUEST_TIMEOUT = 10.0
LOST_ANSWER_TIMEOUT = 0.3  # a buyer who stops waiting: the answer never reaches them
RETRY_GRACE = 15.0  # after a phase's load, seconds a buyer may still retry for an answer
GUNICORN = ["--workers", "3", "--worker-class", "gthread", "--threads", "40", "--timeout", "60"]

NO_ANSWER = 0  # connection refused, reset or timed out
DROPPED = -1  # the buyer stopped waiting on purpose (a lost answer)

KINDS = {  # the discrepancies, in the table's order
    "orphan_charges": "orphan charges",
    "double_charges": "double charges",
    "double_refunds": "double refunds",
    "paid_without_charge": "paid w/o charge",
    "points": "points lost/doubled",
    "told": "told ≠ books",
}


# --- the processor, and the drill's own processes --------------------------------------


def sleep_until(moment: float) -> None:
    time.sleep(max(0.0, moment - time.monotonic()))


def gateway_call(path: str, body: dict | None = None) -> dict:
    """The processor's own API: /control and /ledger (127.0.0.1 only)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(  # noqa: S310 - 127.0.0.1 only
        GATEWAY + path, data=data, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        return json.loads(response.read())


class Lab(lab.Lab):
    """The processes this drill started (see lab.Lab), and what only this drill does
    with them: the processor as its own process, the outbox worker, killing workers."""

    def __init__(self, work: Path) -> None:
        super().__init__(
            work, redis_port=REDIS_PORT, pg_port=PG_PORT, web_port=WEB_PORT, gunicorn=GUNICORN
        )

    # -- the processor ------------------------------------------------------------------
    def gateway_start(self, ledger: Path) -> None:
        options = f"--host {HOST} --port {GATEWAY_PORT} --latency-ms {GATEWAY_LATENCY}".split()
        simulator = [sys.executable, "-m", "payment.simulator", *options, "--ledger", ledger]
        self.spawn("gateway", simulator, log="gateway.log")
        wait_for(f"{GATEWAY}/healthz")

    def gateway_failing(self) -> None:
        gateway_call("/control", {"failure_rate": 0.5, "lost_answer_rate": 0.3})

    def gateway_slow(self) -> None:
        gateway_call("/control", {"latency_ms": "2500-3500"})

    def gateway_healthy(self) -> None:
        healthy = {"latency_ms": GATEWAY_LATENCY, "failure_rate": 0, "lost_answer_rate": 0}
        gateway_call("/control", healthy)

    # -- the store --------------------------------------------------------------------
    def web_log(self) -> str:
        return f"web-{self.env['FAULTS_STORE']}.log"

    def web_kill_workers(self) -> None:
        for pid in children(self.procs["web"].pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def outbox_start(self) -> None:
        worker = [sys.executable, "manage.py", "outbox_worker", "--interval", "0.5"]
        log = f"outbox-{self.env['FAULTS_STORE']}.log"
        self.spawn("outbox", worker, log=log, env=self.env)

    def outbox_kill(self) -> None:
        proc = self.procs.pop("outbox")
        proc.kill()
        proc.wait()

    def store_start(self, env: dict) -> None:
        self.stop("outbox")
        self.stop("web")
        self.env = env
        self.web_start()
        self.outbox_start()

    def revive(self) -> list[str]:
        """Start again what died on its own, as a supervisor would; say what it was."""
        notes = []
        for name, start in (("web", self.web_start), ("outbox", self.outbox_start)):
            proc = self.procs.get(name)
            if proc is not None and proc.poll() is not None:
                notes.append(f"{name} exited by itself ({proc.returncode}); started again")
                del self.procs[name]
                start()
        return notes


# --- the buyers -------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    status: int  # NO_ANSWER or DROPPED when there was none
    retry_after: str | None = None
    body: object = None

    @property
    def code(self) -> str:
        return self.body.get("code", "") if isinstance(self.body, dict) else ""


def _json(data: bytes) -> object:
    try:
        return json.loads(data)
    except ValueError:
        return None


def request(
    method: str,
    path: str,
    *,
    token: str | None = None,
    body: dict | None = None,
    key: str | None = None,
    timeout: float = REQUEST_TIMEOUT,
) -> Answer:
    """One request to the store (127.0.0.1). A connection refused, reset or timed out is
    NO_ANSWER, not an error: the buyer retries."""
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Token {token}"
    if key:
        headers["Idempotency-Key"] = key
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    call = urllib.request.Request(STORE + path, data=data, headers=headers, method=method)  # noqa: S310
    try:
        with urllib.request.urlopen(call, timeout=timeout) as response:  # noqa: S310
            return Answer(response.status, response.headers["Retry-After"], _json(response.read()))
    except urllib.error.HTTPError as exc:
        try:
            content = exc.read()
        except (OSError, http.client.HTTPException):
            content = b""
        return Answer(exc.code, exc.headers["Retry-After"], _json(content))
    except (OSError, http.client.HTTPException):
        return Answer(NO_ANSWER)


def retry_wait(answer: Answer) -> float | None:
    """Seconds to wait before asking again, or None when the answer is final."""
    if answer.status == NO_ANSWER or (answer.status >= 500 and answer.status != 503):
        return 0.5
    if answer.status in (429, 503):
        try:
            return min(max(float(answer.retry_after or 1), 0.1), 5.0)
        except ValueError:
            return 1.0
    if answer.status == 409 and answer.code == "idempotency_in_progress":
        return 0.3
    return None


@dataclass
class Tally:
    """What the buyers of one phase sent and heard."""

    statuses: Counter = field(default_factory=Counter)
    without_retry_after: Counter = field(default_factory=Counter)  # 503s and 429s
    server_errors: list[str] = field(default_factory=list)  # 5xx other than 503
    gave_up: int = 0  # buys and cancels still without a final answer when time ran out
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, what: str, answer: Answer) -> None:
        with self.lock:
            self.statuses[answer.status] += 1
            if answer.status in (429, 503) and not answer.retry_after:
                self.without_retry_after[answer.status] += 1
            if answer.status >= 500 and answer.status != 503:
                self.server_errors.append(f"{what} -> {answer.status} {answer.body}"[:300])

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())

    @property
    def unexpected_5xx(self) -> int:
        """Every 5xx but a 503 with Retry-After."""
        return len(self.server_errors) + self.without_retry_after[503]

    def answers(self) -> str:
        names = {NO_ANSWER: "none", DROPPED: "dropped"}
        order = sorted(self.statuses, key=lambda s: (s <= 0, s))
        return ", ".join(f"{names.get(s, s)}: {self.statuses[s]}" for s in order)


@dataclass
class Told:
    """What one store told its buyers, over every phase."""

    paid: set[int] = field(default_factory=set)  # purchases answered 201
    cancelled: set[int] = field(default_factory=set)  # purchases answered 200 to a cancel
    cancel_sent: set[int] = field(default_factory=set)  # purchases a buyer asked to cancel
    lock: threading.Lock = field(default_factory=threading.Lock)

    def as_lists(self) -> dict[str, list[int]]:
        with self.lock:
            return {
                name: sorted(getattr(self, name)) for name in ("paid", "cancelled", "cancel_sent")
            }


class Buyer:
    """One account shopping: buys (sometimes double-clicking, sometimes losing the
    answer and asking again with the same Idempotency-Key), cancels and browses."""

    def __init__(self, token: str, films: list[int], told: Told) -> None:
        self.token = token
        self.films = films
        self.told = told
        self.owned: dict[int, int] = {}  # purchase id -> film, as this buyer was told
        self.random = random.Random()  # noqa: S311 - a simulation, not security

    def shop(self, tally: Tally, until: float, give_up_at: float) -> None:
        actions = [self.buy, self.buy_losing_answer, self.double_click, self.cancel, self.browse]
        while time.monotonic() < until:
            self.random.choices(actions, weights=[45, 10, 10, 15, 20])[0](tally, give_up_at)
            time.sleep(self.random.uniform(0.02, 0.15))

    def order(self, method: str | None = None) -> dict:
        owned = set(self.owned.values())
        film = self.random.choice([f for f in self.films if f not in owned] or self.films)
        if method is None:
            method = "mileage" if self.random.random() < 0.25 else "card"
        return {"vod": film, "payment_method": method}

    def buy(self, tally: Tally, give_up_at: float, *, method: str | None = None) -> None:
        order = self.order(method)
        self.heard(order, self.purchase(tally, order, str(uuid.uuid4()), give_up_at))

    def buy_losing_answer(self, tally: Tally, give_up_at: float) -> None:
        order = self.order()
        key = str(uuid.uuid4())
        self.heard(order, self.purchase(tally, order, key, give_up_at, lose_first=True))

    def double_click(self, tally: Tally, give_up_at: float) -> None:
        """The same request twice at once, with the same key."""
        order = self.order()
        key = str(uuid.uuid4())
        answers: list[Answer | None] = [None, None]

        def click(i: int) -> None:
            answers[i] = self.purchase(tally, order, key, give_up_at)

        clicks = [threading.Thread(target=click, args=(i,), daemon=True) for i in (0, 1)]
        for thread in clicks:
            thread.start()
        for thread in clicks:
            thread.join()
        for answer in answers:
            self.heard(order, answer)

    def purchase(
        self, tally: Tally, order: dict, key: str, give_up_at: float, *, lose_first: bool = False
    ) -> Answer | None:
        """Ask until the answer is final, with the same key; None if time ran out."""
        lose = lose_first
        while time.monotonic() < give_up_at:
            answer = request(
                "POST",
                "/api/purchases/",
                token=self.token,
                body=order,
                key=key,
                timeout=LOST_ANSWER_TIMEOUT if lose else REQUEST_TIMEOUT,
            )
            if lose:  # whatever came back never reached the buyer
                lose = False
                tally.record("buy", Answer(DROPPED) if answer.status == NO_ANSWER else answer)
                continue
            tally.record("buy", answer)
            wait = retry_wait(answer)
            if wait is None:
                return answer
            sleep_until(min(time.monotonic() + wait, give_up_at))
        with tally.lock:
            tally.gave_up += 1
        return None

    def heard(self, order: dict, answer: Answer | None) -> None:
        if answer is not None and answer.status == 201 and isinstance(answer.body, dict):
            purchase_id = answer.body["id"]
            self.owned[purchase_id] = order["vod"]
            with self.told.lock:
                self.told.paid.add(purchase_id)

    def cancel(self, tally: Tally, give_up_at: float) -> None:
        if not self.owned:
            return self.browse(tally, give_up_at)
        purchase_id = self.random.choice(list(self.owned))
        with self.told.lock:
            self.told.cancel_sent.add(purchase_id)
        while time.monotonic() < give_up_at:
            answer = request("POST", f"/api/purchases/{purchase_id}/cancel/", token=self.token)
            tally.record("cancel", answer)
            wait = retry_wait(answer)
            if wait is None:
                break
            sleep_until(min(time.monotonic() + wait, give_up_at))
        else:  # no final answer: the buyer still thinks it owns the film
            with tally.lock:
                tally.gave_up += 1
            return None
        if answer.status == 200:
            with self.told.lock:
                self.told.cancelled.add(purchase_id)
        if answer.status in (200, 404, 409):
            del self.owned[purchase_id]
        return None

    def browse(self, tally: Tally, _give_up_at: float) -> None:
        tally.record("catalog", request("GET", f"/api/vods/?page={self.random.randint(1, 5)}"))
        tally.record("storefront", request("GET", "/"))


# --- the stores, the phases and the books ------------------------------------------


@dataclass
class Store:
    """One database and the buyers who shop there."""

    name: str
    env: dict
    buyers: list[Buyer]
    told: Told
    warm_up: Tally
    seen: set[str] = field(default_factory=set)  # discrepancies already reported
    phases_run: int = 0


@dataclass(frozen=True)
class Phase:
    name: str
    what: str
    start: Callable[[Lab], None] | None = None  # a third of the way in
    end: Callable[[Lab], None] | None = None  # at two thirds
    store: str = "postgres"  # or "sqlite"


PHASES = [
    Phase("baseline", "no fault"),
    Phase(
        "kill-web",
        "kill -9 every gunicorn worker, twice (the master starts new ones)",
        start=Lab.web_kill_workers,
        end=Lab.web_kill_workers,
    ),
    Phase(
        "kill-outbox",
        "kill -9 the outbox worker; a new one starts later",
        start=Lab.outbox_kill,
        end=Lab.outbox_start,
    ),
    Phase(
        "redis-down",
        "stop Redis; start it again on its port, empty",
        start=Lab.redis_stop,
        end=Lab.redis_start,
    ),
    Phase("redis-frozen", "SIGSTOP Redis, then SIGCONT", Lab.redis_freeze, Lab.redis_thaw),
    Phase(
        "postgres-down",
        "pg_ctl stop -m immediate, then start it again (crash recovery)",
        start=Lab.postgres_stop,
        end=Lab.postgres_start,
    ),
    Phase(
        "gateway-failing",
        "the processor fails half its calls and loses 30 % of its answers; then heals",
        start=Lab.gateway_failing,
        end=Lab.gateway_healthy,
    ),
    Phase(
        "gateway-slow",
        "the processor answers in 2.5-3.5 s, over the store's 2 s guard; then fast",
        start=Lab.gateway_slow,
        end=Lab.gateway_healthy,
    ),
    Phase(
        "sqlite-kill-web",
        "the store on SQLite with a local-memory cache: kill -9 every web worker, twice",
        start=Lab.web_kill_workers,
        end=Lab.web_kill_workers,
        store="sqlite",
    ),
]


@dataclass
class Row:
    phase: Phase
    tally: Tally
    found: dict[str, list[str]]  # discrepancies this phase's check found first
    recovered: str
    notes: list[str]
    logged: list["Logged"]


def faults_env(work: Path, name: str, database_url: str, cache_url: str | None) -> dict:
    """The store's production-like environment (runner.store_env), its processor the
    drill's own over HTTP, and the drill's pace: short graces, a high purchase rate."""
    env = store_env(
        work,
        FAULTS_STORE=name,
        DATABASE_URL=database_url,
        PAYMENT_GATEWAY="http",
        PAYMENT_GATEWAY_URL=GATEWAY,
        PAYMENT_RECONCILE_GRACE_SECONDS=str(RECONCILE_GRACE),
        # a lookup is final once a call's deadline has passed: shorter than the grace
        PAYMENT_GATEWAY_TIMEOUT=str(RECONCILE_GRACE - 1),
        PURCHASE_RATE="1000/min",
        EVENTS_DISPATCH_GRACE_SECONDS="3",
        EVENTS_RETRY_BASE_SECONDS="1",
        EVENTS_RETRY_MAX_SECONDS=str(EVENTS_RETRY_MAX),
    )
    env.pop("CACHE_URL", None)  # none: a local-memory cache
    if cache_url:
        env["CACHE_URL"] = cache_url
    return env


def open_store(lab: Lab, name: str) -> Store:
    """Start the services a store needs, fill it, serve it, and warm its buyers up:
    each account buys a few films by card, so it has points to spend."""
    if name == "postgres":
        lab.redis_start()
        lab.postgres_init()
        env = faults_env(
            lab.work,
            name,
            f"postgres://postgres@{HOST}:{PG_PORT}/vodstore",
            f"redis://{HOST}:{REDIS_PORT}/0",
        )
    else:
        env = faults_env(lab.work, name, f"sqlite:///{lab.work / 'drill.sqlite3'}", None)
    lab.stop("gateway")  # each store gets a processor with a ledger of its own
    lab.gateway_start(lab.work / f"gateway-{name}.sqlite3")
    store_open(env, films=FILMS)
    accounts = in_store(env, "seed.buyers", prefix="buyer", count=ACCOUNTS)
    told = Told()
    buyers = [Buyer(token, accounts["films"], told) for token in accounts["tokens"]]
    lab.store_start(env)

    tally = Tally()
    give_up_at = time.monotonic() + 60

    def warm_up(buyer: Buyer) -> None:
        for _ in range(WARM_UP_BUYS):
            buyer.buy(tally, give_up_at, method="card")

    threads = [threading.Thread(target=warm_up, args=(b,), daemon=True) for b in buyers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=90)
    print(
        f"  {name}: {len(accounts['films'])} films, {ACCOUNTS} buyers, warm-up "
        f"{len(told.paid)} card purchases ({tally.answers()})",
        flush=True,
    )
    if tally.unexpected_5xx:
        print("  warm-up 5xx: " + "; ".join(tally.server_errors[:3]))
    return Store(name, env, buyers, told, tally)


def drain_outbox(env: dict, *, until_idle: bool) -> str:
    """Deliver every due event: `outbox_worker --until-idle`, or `--once` until a pass
    claims nothing where that flag is not there yet. What went wrong, if anything."""
    if until_idle:
        done = manage(env, "outbox_worker", "--until-idle", check=False)
        return "" if done.returncode == 0 else f"outbox_worker --until-idle: {done.stderr[-800:]}"
    for _ in range(50):
        done = manage(env, "outbox_worker", "--once", check=False)
        if done.returncode:
            return f"outbox_worker --once: {done.stderr[-800:]}"
        if "claimed" not in done.stdout:
            return ""
    return "outbox_worker --once still claimed events after 50 passes"


def reconcile(env: dict) -> str:
    """`payments_reconcile`: finish the operations left in doubt. What went wrong."""
    done = manage(env, "payments_reconcile", check=False)
    if done.returncode:
        return f"payments_reconcile exited {done.returncode}: {(done.stdout + done.stderr)[-800:]}"
    return ""


def settle(lab: Lab, store: Store) -> tuple[dict, str, list[str]]:
    """Let the store finish what the phase left: events delivered, operations in doubt
    reconciled. Then the books, and whether `payments_reconcile --check` is content."""
    notes = lab.revive()
    time.sleep(RECONCILE_GRACE + 1)  # operations in doubt are older than the grace now
    reconciler = "payments_reconcile" in manage(store.env, "help").stdout
    until_idle = "--until-idle" in manage(store.env, "outbox_worker", "--help").stdout
    if not reconciler:
        notes.append("manage.py payments_reconcile does not exist (yet)")
    for attempt in range(4):
        notes.append(drain_outbox(store.env, until_idle=until_idle))
        if reconciler:
            notes.append(reconcile(store.env))
            notes.append(drain_outbox(store.env, until_idle=until_idle))  # what it published
        ledger = gateway_call("/ledger")["charges"]
        books = in_store(store.env, "books.faults", ledger=ledger, **store.told.as_lists())
        if not books["summary"]["events_waiting"] or attempt == 3:
            break
        time.sleep(EVENTS_RETRY_MAX)  # a failed handler's next try is due by then
    notes = [note for note in dict.fromkeys(notes) if note]
    if books["summary"]["events_waiting"]:
        notes.append(f"{books['summary']['events_waiting']} events still waiting")
    if not reconciler:
        return books, "no (no payments_reconcile)", notes
    check = manage(store.env, "payments_reconcile", "--check", check=False)
    if check.returncode == 0:
        return books, "yes", notes
    output = (check.stdout + check.stderr).strip()[-2000:]
    notes.append(f"payments_reconcile --check exited {check.returncode}:\n{output}")
    return books, "no", notes


# --- what the store logged ----------------------------------------------------------

RECORD = re.compile(r"^\d{4}-\d\d-\d\d [\d:,]+ (?P<level>[A-Z]+) (?P<logger>\S+): (?P<message>.*)")
GUNICORN_RECORD = re.compile(r"^\[[^]]+\] \[\d+\] \[(?P<level>[A-Z]+)\] (?P<message>.*)")
TRACEBACK = re.compile(r"^(\s|Traceback |During handling |The above exception |$)")
EXCEPTION = re.compile(r"^[A-Za-z_][\w.]*(: .*)?$")  # the last line of a traceback


@dataclass
class Logged:
    """Log records alike but for their numbers and ids, counted, with one in full."""

    level: str
    logger: str
    message: str
    exception: str = ""
    count: int = 0
    sample: list[str] = field(default_factory=list)

    def line(self) -> str:
        raised = f" -> {self.exception}" if self.exception else ""
        return f"{self.count}x {self.level} {self.logger}: {self.message}{raised}"[:400]


def read_logs(logs: list[tuple[Path, int]]) -> list[Logged]:
    """The records store processes logged (each log from its offset), grouped, but the
    expected refusals (django.request's warnings about 4xx answers) and what commands
    print as they go ("claimed 3 event(s)")."""
    records: list[list[str]] = []
    for path, offset in logs:
        with open(path, errors="replace") as log:
            log.seek(offset)
            lines = log.read().splitlines()
        current: list[str] | None = None
        for line in lines:
            if RECORD.match(line) or GUNICORN_RECORD.match(line):
                current = [line]
                records.append(current)
            elif current is not None and (TRACEBACK.match(line) or EXCEPTION.match(line)):
                current.append(line)
    groups: dict[tuple, Logged] = {}
    for record in records:
        found = RECORD.match(record[0]) or GUNICORN_RECORD.match(record[0])
        level, message = found["level"], found["message"]
        logger = found.groupdict().get("logger", "gunicorn")
        if logger == "django.request" and level == "WARNING":
            continue
        raised = [line for line in record[1:] if EXCEPTION.match(line)]
        key = (level, logger, re.sub(r"[0-9a-f-]{36}|\d+", "#", message))
        group = groups.setdefault(key, Logged(level, logger, key[2]))
        group.count += 1
        group.exception = raised[-1] if raised else group.exception
        if raised and not group.sample:
            group.sample = compact(record)
    return list(groups.values())


def compact(record: list[str]) -> list[str]:
    """A logged traceback with the store's own frames only (the library's are "...")."""
    kept: list[str] = []
    ours = True
    for line in record:
        if line.startswith('  File "'):
            ours = str(ROOT) in line and "/.venv/" not in line
            if ours:
                kept.append(line)
            elif kept[-1] != "  ...":
                kept.append("  ...")
        else:
            # the record, the exceptions and their detail; the store's own source lines
            source = line.startswith("    ")
            if not source or (ours and line.strip(" ^~")):
                kept.append(line)
    return kept


def run_phase(lab: Lab, store: Store, phase: Phase) -> Row:
    tally = Tally()
    half = (store.phases_run % 2) * BUYERS
    store.phases_run += 1
    offsets = {name: path.stat().st_size for name, path in lab.logs.items() if path.exists()}
    begun = time.monotonic()
    until = begun + SECONDS
    give_up_at = until + RETRY_GRACE
    threads = [
        threading.Thread(target=b.shop, args=(tally, until, give_up_at), daemon=True)
        for b in store.buyers[half : half + BUYERS]
    ]
    for thread in threads:
        thread.start()
    sleep_until(begun + SECONDS / 3)
    if phase.start:
        phase.start(lab)
    sleep_until(begun + 2 * SECONDS / 3)
    if phase.end:  # (on an error or Ctrl-C, Lab.close stops what is broken, too)
        phase.end(lab)
    for thread in threads:
        thread.join(timeout=max(0.0, give_up_at + REQUEST_TIMEOUT + 5 - time.monotonic()))
    notes = []
    if tally.gave_up:
        notes.append(f"{tally.gave_up} buys or cancels had no final answer in time")
    books, recovered, settle_notes = settle(lab, store)
    notes += settle_notes
    found = {kind: sorted(set(keys) - store.seen) for kind, keys in books["found"].items()}
    for keys in books["found"].values():
        store.seen.update(keys)
    summary = books["summary"]
    notes.append(
        f"books: purchases {summary['purchases']}, charges {summary['charges']} "
        f"({summary['unused_charges']} named by no payment), "
        f"{summary['events_failed']} events failed"
    )
    if tally.server_errors:
        notes.append("5xx other than 503: " + "; ".join(tally.server_errors[:3]))
    logs = [(lab.logs[name], offsets.get(name, 0)) for name in ("web", "outbox")]
    return Row(phase, tally, found, recovered, notes, read_logs(logs))


# --- the report -----------------------------------------------------------------------


def table(rows: list[Row]) -> str:
    header = ["phase", "requests", "answers by status", "5xx≠503", "503/429 w/o Retry-After"]
    header += [*KINDS.values(), "recovered without a hand"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        no_wait = sum(row.tally.without_retry_after.values())
        cells = [row.phase.name, row.tally.requests, row.tally.answers()]
        cells += [len(row.tally.server_errors), no_wait]
        cells += [len(row.found[kind]) for kind in KINDS] + [row.recovered]
        lines.append("| " + " | ".join(map(str, cells)) + " |")
    return "\n".join(lines)


def details(rows: list[Row]) -> str:
    """Each phase: what it did, the discrepancies it found, notes, what the store logged."""
    out = []
    for row in rows:
        out.append(f"- **{row.phase.name}**: {row.phase.what}")
        for kind, label in KINDS.items():
            if keys := row.found[kind]:
                more = f" (and {len(keys) - 5} more)" if len(keys) > 5 else ""
                out.append(f"  - {label}: {'; '.join(keys[:5])}{more}")
        out += ["  - " + note.replace("\n", "\n    ") for note in row.notes]
        out += [f"  - logged: {group.line()}" for group in row.logged]
    return "\n".join(out)


def tracebacks(rows: list[Row]) -> str:
    """One traceback of each kind of error the store logged, and of each 5xx."""
    shown: dict[tuple, list[str]] = {}
    for row in rows:
        for group in row.logged:
            if group.sample and group.level in ("ERROR", "CRITICAL"):
                key = (group.logger != "django.request", group.logger, group.message)
                shown.setdefault((*key, group.exception), group.sample)
    samples = [shown[key] for key in sorted(shown)][:8]  # the 5xx first
    return "\n\n".join("```\n" + "\n".join(sample) + "\n```" for sample in samples)


def chosen_phases() -> list[Phase]:
    wanted = [n.strip() for n in os.environ.get("FAULTS_PHASES", "").split(",") if n.strip()]
    unknown = set(wanted) - {p.name for p in PHASES}
    if unknown:
        raise SystemExit(
            f"faults: unknown phase(s) {', '.join(sorted(unknown))}; "
            f"the phases: {', '.join(p.name for p in PHASES)}"
        )
    return [p for p in PHASES if not wanted or p.name in wanted]


def preflight(phases: list[Phase]) -> None:
    ports = [GATEWAY_PORT, WEB_PORT]
    if any(p.store == "postgres" for p in phases):
        ports += [REDIS_PORT, PG_PORT]
        for program in ("redis-server", "initdb", "pg_ctl", "createdb"):
            command(program)
    for port in ports:
        if port_in_use(port):
            raise SystemExit(
                f"faults: something already listens on {HOST}:{port}; this drill starts its "
                "own services there (a run killed with -9 may have left one: stop it by its pid)"
            )


def main() -> int:
    phases = chosen_phases()
    preflight(phases)
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop what it started, too
    work = Path(tempfile.mkdtemp(prefix="vod-faults-"))
    work.chmod(0o711)  # the postgres user reaches its folders inside
    lab = Lab(work)
    rows: list[Row] = []
    stores: dict[str, Store] = {}
    started = time.monotonic()
    print(
        f"faults: {len(phases)} phases of {SECONDS:.0f} s, {BUYERS} buyers, "
        f"processor at {GATEWAY_LATENCY} ms; logs in {work}",
        flush=True,
    )
    try:
        for phase in phases:
            if phase.store not in stores:
                stores[phase.store] = open_store(lab, phase.store)
            print(f"- {phase.name}: {phase.what}", flush=True)
            rows.append(run_phase(lab, stores[phase.store], phase))
            found = sum(len(keys) for keys in rows[-1].found.values())
            print(
                f"  {rows[-1].tally.requests} requests ({rows[-1].tally.answers()}), "
                f"{found} discrepancies, recovered without a hand: {rows[-1].recovered}",
                flush=True,
            )
    finally:
        lab.close()

    discrepancies = sum(len(keys) for row in rows for keys in row.found.values())
    unexpected = sum(row.tally.unexpected_5xx for row in rows)
    unexpected += sum(store.warm_up.unexpected_5xx for store in stores.values())
    last = f"faults: {len(rows)} phases, {discrepancies} discrepancies, {unexpected} unexpected 5xx"
    minutes = (time.monotonic() - started) / 60
    errors = tracebacks(rows)
    report = "\n\n".join(
        [
            f"Fault drill, {datetime.now():%Y-%m-%d %H:%M}: {BUYERS} buyers, {SECONDS:.0f} s a "
            f"phase, the fault from a third to two thirds of it; {minutes:.1f} minutes in all",
            table(rows),
            details(rows),
            *(["Tracebacks the store logged:", errors] if errors else []),
            last,
        ]
    )
    report_write("faults", report)
    print("\n" + report.removesuffix(last).rstrip() + "\n")
    failed = bool(discrepancies or unexpected)
    if failed:
        for log in sorted(work.glob("web-*.log")):
            tail = log.read_text(errors="replace").splitlines()[-30:]
            print(f"--- the last lines of {log}:\n" + "\n".join(tail))
        print(f"(logs and the processor's ledgers are kept in {work})")
    else:
        shutil.rmtree(work, ignore_errors=True)
    print(last)
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit("faults: interrupted; what it started is stopped")
