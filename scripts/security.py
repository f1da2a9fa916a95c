"""`make security`: an outside security check of the store, over real HTTP.

Starts the store as production runs it (DEBUG off, a random SECRET_KEY, ALLOWED_HOSTS
127.0.0.1; SECURE_HTTPS off only because this is plain HTTP on loopback) on a
PostgreSQL cluster (5492) and a Redis (6392) of its own, served by gunicorn on
127.0.0.1:8793. Set-up makes the identities and the films inside the store
(`scripts.seed.security_world`: users, a staff user with `catalog.add_vod` and not
`purchase.change_purchase`, films of ₩0 and priced ones through catalog's service),
then everything else goes over HTTP as an outsider would: tokens from
/api/auth/token/, a session from the log-in form, then

- schemathesis against the served /api/schema/, once per identity (anonymous, a
  user's token, the staff user's token), `--checks all`, bounded;
- the attacks of the outside review (ATTACKS below, each from a loopback address of
  its own), each counting its requests, its 5xx and its findings: what the store did
  that it must not.

Prints one markdown table, writes it with the date to reports/security.md and ends
with `security: R requests, E 5xx, F findings`; exits 1 when E or F is not 0. Only
127.0.0.1; everything it started is stopped by process id at the end, also on an
error or Ctrl-C; its temporary folder is removed when nothing was found.

SECURITY_EXAMPLES (default 10) and SECURITY_FUZZ_SECONDS (default 35) bound each
schemathesis run; SECURITY_SEED replays one; SECURITY_ONLY=races,schemathesis (names
of the attack functions) runs a subset.
"""

import contextlib
import json
import os
import random
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import requests.adapters
import requests.structures

from scripts.lab import Lab
from scripts.runner import (
    BIN,
    HOST,
    ROOT,
    in_store,
    port_in_use,
    report_write,
    store_env,
    store_open,
)

REDIS_PORT, PG_PORT, WEB_PORT = 6392, 5492, 8793
STORE = f"http://{HOST}:{WEB_PORT}"
GUNICORN = ["--workers", "3", "--worker-class", "gthread", "--threads", "16", "--timeout", "30"]
REQUEST_TIMEOUT = 20.0
EXAMPLES = int(os.environ.get("SECURITY_EXAMPLES", "10"))  # schemathesis, per operation
FUZZ_SECONDS = int(os.environ.get("SECURITY_FUZZ_SECONDS", "35"))  # per identity
SEED = int(os.environ.get("SECURITY_SEED") or random.SystemRandom().randrange(1, 2**31))
# A subset, for working on one attack: names of functions below, or "schemathesis".
ONLY = {name.strip() for name in os.environ.get("SECURITY_ONLY", "").split(",") if name.strip()}
WRONG_PASSWORDS = 60  # per log-in door
FLOOD_CLIENTS, FLOOD_SECONDS = 16, 10.0
# Each flooding client guesses at most twice a second (32 guesses a second in all):
# enough to keep two cores busy hashing passwords, too few to do it with answers that
# hash nothing, so the check measures what a wrong password costs the store.
FLOOD_PACE = 0.5
RACERS = 32
EARN, FREE_COST = 1000, 5000  # the mileage rules, as the store is started
PRICED_FILMS = 50
EXPENSIVE = 50_000  # ₩, the film the points exploit tries to take for free

# The identities and the accounts the attacks use; each gets a random password.
PEOPLE = ["alice", "bob", "editor", "target", "zero", "racer", "spender"]

# --- what an attack heard and found ----------------------------------------------------


class CannotRun(Exception):
    """The attack could not be set up (the store refused what it needs): reported,
    and the run fails, since a check that did not run found nothing."""


@dataclass
class Answer:
    status: int  # 0: no answer (refused, reset or timed out)
    headers: Mapping[str, str] = field(default_factory=dict)  # requests': any case
    body: bytes = b""
    seconds: float = 0.0

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    @property
    def data(self) -> dict:
        """The JSON object answered, or {}."""
        try:
            data = json.loads(self.body)
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}

    def retry_after(self, default: float = 1.0) -> float:
        try:
            return min(max(float(self.headers.get("Retry-After", default)), 0.1), 10.0)
        except ValueError:
            return default


@dataclass
class Attack:
    """One row of the table: an attack class, what it sent and what it found."""

    name: str
    address: str = HOST  # where its clients connect from (127.0.0.0/8 is all loopback)
    requests: int = 0
    server_errors: list[str] = field(default_factory=list)  # a 5xx, or no answer at all
    busy: int = 0  # 503 payment_unavailable with Retry-After: the payment guard, by design
    findings: list[str] = field(default_factory=list)
    finding_count: int = 0  # a schemathesis failure group counts as its failures
    notes: list[str] = field(default_factory=list)
    broken: str = ""  # why it could not run
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def heard(self, method: str, path: str, answer: Answer) -> None:
        with self.lock:
            self.requests += 1
            guard = answer.status == 503 and answer.data.get("code") == "payment_unavailable"
            if guard and "Retry-After" in answer.headers:
                self.busy += 1
                return
            if answer.status == 0 or answer.status >= 500:
                status = answer.status or "no answer"
                self.server_errors.append(f"{method} {short(path)} -> {status}")

    def found(self, what: str, count: int = 1) -> None:
        with self.lock:
            self.findings.append(what)
            self.finding_count += count

    def note(self, what: str) -> None:
        with self.lock:
            self.notes.append(what)


def short(text: str, limit: int = 90) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class FromAddress(requests.adapters.HTTPAdapter):
    """Connections from one loopback address: the store sees each attack (and each
    flooding client) as a client of its own, so what one attack made the store refuse
    to an address (a lock-out, a sign-up limit) does not decide the next one."""

    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **kwargs, source_address=(self.address, 0))


class Client:
    """One HTTP client with its own connection and cookies, optionally an API token;
    every answer it gets is counted by the attack it works for. It connects from the
    attack's address, or from `address`."""

    def __init__(
        self,
        attack: Attack,
        *,
        token: str | None = None,
        cookies=None,
        address: str | None = None,
    ) -> None:
        self.attack = attack
        self.http = requests.Session()
        self.http.mount("http://", FromAddress(address or attack.address))
        self.http.headers["User-Agent"] = "vodstore-security-check"
        if token:
            self.http.headers["Authorization"] = f"Token {token}"
        if cookies is not None:
            self.http.cookies.update(cookies)

    def call(self, method: str, path: str, *, label: str = "", **kwargs) -> Answer:
        """One request; `label` names it in the report (which body it sent)."""
        started = time.monotonic()
        try:
            response = self.http.request(
                method, STORE + path, timeout=REQUEST_TIMEOUT, allow_redirects=False, **kwargs
            )
            answer = Answer(response.status_code, response.headers, response.content)
        except requests.RequestException:
            answer = Answer(0)
        answer.seconds = time.monotonic() - started
        self.attack.heard(method, f"{path} {label}".rstrip(), answer)
        return answer

    def get(self, path: str, **kwargs) -> Answer:
        return self.call("GET", path, **kwargs)

    def post(self, path: str, **kwargs) -> Answer:
        return self.call("POST", path, **kwargs)

    def csrf(self, page: str) -> str:
        """GET a form page; the CSRF token of its form (the cookie comes with it)."""
        answer = self.get(page)
        found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', answer.text)
        if found is None:
            raise CannotRun(f"no CSRF token in the form at {page} ({answer.status})")
        return found[1]

    def post_form(self, page: str, fields: dict, *, token: str | None = None) -> Answer:
        """POST a form of `page` as a browser would, with its CSRF token."""
        token = token or self.csrf(page)
        return self.post(page, data={**fields, "csrfmiddlewaretoken": token})

    def wait_while_refused(self, ask: Callable[[], Answer], *, tries: int = 5) -> Answer:
        """Ask; while the answer is 429 or 503, wait its Retry-After and ask again."""
        answer = ask()
        for _ in range(tries - 1):
            if answer.status not in (429, 503):
                break
            time.sleep(answer.retry_after())
            answer = ask()
        return answer


# --- the store and its identities --------------------------------------------------------


@dataclass
class World:
    """What set-up made: who is who, their passwords and tokens, the films."""

    users: dict[str, int]
    passwords: dict[str, str]
    free: list[int]
    priced: list[int]
    expensive: int
    tokens: dict[str, str] = field(default_factory=dict)
    bob_session: object = None  # bob's cookies after logging in through the form
    taken: int = 0

    def token(self, name: str) -> str:
        if name not in self.tokens:
            raise CannotRun(f"{name} has no working API token")
        return self.tokens[name]

    def films(self, n: int) -> list[int]:
        """`n` priced films no attack has used yet."""
        if self.taken + n > len(self.priced):
            raise CannotRun("set-up made too few films")
        self.taken += n
        return self.priced[self.taken - n : self.taken]


def security_env(lab: Lab) -> dict:
    """The store as production runs it (runner.store_env: DEBUG off, a new random
    SECRET_KEY every run, plain HTTP on 127.0.0.1 only) on the lab's PostgreSQL and
    Redis, with the mileage rules the attacks count on."""
    env = store_env(
        lab.work,
        DATABASE_URL=lab.database_url,
        CACHE_URL=lab.cache_url,
        MILEAGE_EARN_PER_PURCHASE=str(EARN),
        MILEAGE_FREE_VOD_COST=str(FREE_COST),
    )
    for name in ("CSRF_TRUSTED_ORIGINS", "PURCHASE_RATE"):  # production's own defaults
        env.pop(name, None)
    return env


def open_store(lab: Lab) -> World:
    lab.redis_start()
    lab.postgres_init()
    lab.env = security_env(lab)
    store_open(lab.env)
    passwords = {name: secrets.token_urlsafe(18) for name in PEOPLE}
    made = in_store(
        lab.env,
        "seed.security_world",
        passwords=passwords,
        priced=PRICED_FILMS,
        expensive=EXPENSIVE,
    )
    lab.web_start()
    return World(made["users"], passwords, made["free"], made["priced"], made["expensive"])


def sign_in(world: World, setup: Attack) -> None:
    """Tokens from /api/auth/token/ and bob's session from the log-in form, as any
    client gets them (whatever kind of token the store hands out)."""
    for name in PEOPLE:
        if name != "target":  # the brute force's account: nobody logs in as it
            take_token(world, name, Client(setup))
    browser = Client(setup)
    answer = browser.post_form("/accounts/login/", {**credentials_of(world, "bob"), "next": "/"})
    if answer.status != 302 or "sessionid" not in browser.http.cookies:
        raise CannotRun(f"bob could not log in through the form ({answer.status})")
    world.bob_session = browser.http.cookies
    if Client(setup, cookies=world.bob_session).get("/api/mileage/").status != 200:
        raise CannotRun("bob's session does not reach the API")


def take_token(world: World, name: str, client: Client) -> None:
    credentials = credentials_of(world, name)
    answer = client.wait_while_refused(lambda: client.post("/api/auth/token/", json=credentials))
    token = answer.data.get("token")
    if answer.status != 200 or not token:
        raise CannotRun(f"no API token for {name}: {answer.status} {short(answer.text)}")
    world.tokens[name] = token


def still_signed_in(world: World, setup: Attack, row: Attack) -> None:
    """A new token for whoever's token no longer works (the fuzzer may end a session
    through an operation it found), from an address of its own; noted in `row`."""
    for name, token in list(world.tokens.items()):
        if Client(setup, token=token).get("/api/mileage/").status != 401:
            continue
        del world.tokens[name]
        try:
            take_token(world, name, Client(setup, address="127.0.3.1"))
            row.note(f"{name}'s token stopped working during the fuzzing; a new one was taken")
        except CannotRun as exc:
            row.note(f"{name}'s token stopped working during the fuzzing, and {exc}")


def credentials_of(world: World, name: str) -> dict:
    return {"username": name, "password": world.passwords[name]}


def buy(client: Client, film: int, method: str = "card") -> Answer:
    """POST /api/purchases/, waiting out a 429 or 503 (the store's "try again")."""
    order = {"vod": film, "payment_method": method}
    return client.wait_while_refused(lambda: client.post("/api/purchases/", json=order))


# --- 1. schemathesis, from outside --------------------------------------------------------


def schemathesis(lab: Lab, identity: str, token: str | None) -> Attack:
    """`st run` against the served schema, bounded; requests and 5xx from its HAR
    file, its check failures as findings (a server error is counted as a 5xx)."""
    attack = Attack(f"schemathesis ({identity})")
    out = lab.work / f"schemathesis-{identity}"
    # what counts as a refusal per operation: the same file as tests/test_schema_fuzz.py
    args = [BIN / "schemathesis", "--config-file", ROOT / "schemathesis.toml"]
    args += ["run", f"{STORE}/api/schema/", "--url", STORE]
    args += ["--checks", "all", "--max-examples", EXAMPLES, "--max-time", FUZZ_SECONDS]
    args += ["--seed", SEED, "--workers", "2", "--request-timeout", REQUEST_TIMEOUT]
    args += ["--suppress-health-check", "all", "--warnings", "off", "--no-color"]
    args += ["--generation-database", "none"]
    args += ["--report", "json,har", "--report-json-path", out / "report.json"]
    args += ["--report-har-path", out / "requests.har"]
    if token:  # and without the operations that would end its session for the rest
        args += ["--header", f"Authorization: Token {token}"]
        args += ["--exclude-path-regex", "^/api/auth/logout"]
    name = f"schemathesis-{identity}"
    lab.spawn(name, args, log=f"{name}.log")
    try:
        lab.procs[name].wait(timeout=FUZZ_SECONDS + 90)
    except subprocess.TimeoutExpired:
        attack.note("schemathesis overran its time and was stopped")
    lab.stop(name)
    try:
        report = json.loads((out / "report.json").read_text())
        har = json.loads((out / "requests.har").read_text())
    except (OSError, ValueError):
        tail = lab.logs[name].read_text(errors="replace")[-1500:]
        attack.broken = "schemathesis wrote no report"
        attack.note(f"schemathesis wrote no report; its output ended with:\n{tail}")
        return attack
    for entry in har["log"]["entries"]:
        request, response = entry["request"], entry["response"]
        answer = Answer(
            response.get("status") or 0,  # 0: it had no answer
            requests.structures.CaseInsensitiveDict(
                {h["name"]: h["value"] for h in response.get("headers", [])}
            ),
            response.get("content", {}).get("text", "").encode(),
        )
        attack.heard(request["method"], request["url"].removeprefix(STORE), answer)
    for failure in report["failures"]:
        if failure["type"] == "ServerError":
            continue  # counted above, as 5xx
        title = f"{failure['code']} {failure['title']}"
        attack.found(f"{title} ({failure['count']}x)", count=failure["count"])
        attack.note(f"{title}: {', '.join(failure['operations'])}")
    cases = report["test_cases"]
    statuses = Counter(entry["response"].get("status") for entry in har["log"]["entries"])
    attack.note(
        f"{cases['generated']} test cases, stop: {report['stop_reason']}, "
        f"answers {dict(sorted(statuses.items()))}"
    )
    attack.note(f"its output: {lab.logs[name]}")
    return attack


# --- 2. the attacks of the outside review ------------------------------------------------

LOCKED = re.compile(r"too many|locked out|temporarily locked|try again later", re.IGNORECASE)


def refused(answer: Answer) -> bool:
    """A log-in refused for too many failures: 429/423, or a page or body saying so."""
    return answer.status in (423, 429) or (
        0 < answer.status < 500 and bool(LOCKED.search(answer.text))
    )


def brute_force(world: World, attack: Attack) -> None:
    """60 wrong passwords for one account at each door: one must be refused."""
    doors = [  # (the door, the page whose form it posts, or None: JSON; its own address)
        ("POST /api/auth/token/", None, "127.0.1.1"),
        ("the log-in form /accounts/login/", "/accounts/login/", "127.0.1.2"),
        ("admin's log-in /admin/login/", "/admin/login/", "127.0.1.3"),
    ]

    def knock(door: tuple[str, str | None, str]) -> None:
        what, page, address = door
        client = Client(attack, address=address)
        try:
            csrf = client.csrf(page) if page else ""
        except CannotRun as exc:
            attack.broken = str(exc)
            return
        answers = []
        for i in range(WRONG_PASSWORDS):
            guess = {"username": "target", "password": f"wrong-{i}"}
            if page:
                answers.append(client.post_form(page, {**guess, "next": "/"}, token=csrf))
            else:
                answers.append(client.post("/api/auth/token/", json=guess))
        statuses = dict(sorted(Counter(a.status for a in answers).items()))
        first = next((i + 1 for i, a in enumerate(answers) if refused(a)), None)
        if answers[0].status == 403 and "CSRF" in answers[0].text:
            attack.broken = f"{what}: the form refused our CSRF token"
        elif first is None:
            attack.found(f"{what}: {WRONG_PASSWORDS} wrong passwords, none refused ({statuses})")
        else:
            attack.note(f"{what}: refused from guess {first} on ({statuses})")

    run_together(knock, doors)


def login_flood(world: World, attack: Attack) -> None:
    """16 anonymous clients (one attacker's machine) guess passwords at the log-in form
    for ~10 s; the film page's median time must stay within twice its quiet median."""
    film = f"/films/{world.priced[0]}/"
    reader = Client(attack, address="127.0.2.1")  # a visitor, not the attacker

    def film_page_times(seconds: float) -> list[float]:
        times = []
        until = time.monotonic() + seconds
        while time.monotonic() < until:
            times.append(reader.get(film).seconds)
            time.sleep(0.05)
        return times

    film_page_times(0.5)  # warm: connection, caches
    quiet = statistics.median(film_page_times(3.0))
    stop = threading.Event()
    guesses: Counter = Counter()

    def guesser(i: int) -> None:
        client = Client(attack)
        try:
            csrf = client.csrf("/accounts/login/")
        except CannotRun:
            return
        n = 0
        while not stop.is_set():
            started = time.monotonic()
            fields = {"username": f"flood{i}", "password": f"guess-{n}", "next": "/"}
            answer = client.post_form("/accounts/login/", fields, token=csrf)
            with attack.lock:
                guesses[answer.status] += 1
            n += 1
            stop.wait(max(0.0, FLOOD_PACE - (time.monotonic() - started)))

    threads = [
        threading.Thread(target=guesser, args=(i,), daemon=True) for i in range(FLOOD_CLIENTS)
    ]
    for thread in threads:
        thread.start()
    time.sleep(1.0)  # the flood under way
    loaded = film_page_times(FLOOD_SECONDS)
    stop.set()
    for thread in threads:
        thread.join(timeout=REQUEST_TIMEOUT + 5)
    flooded = statistics.median(loaded)
    ratio = flooded / quiet
    measured = (
        f"GET {film} p50 {flooded * 1000:.0f} ms under {FLOOD_CLIENTS} clients guessing "
        f"passwords, {quiet * 1000:.0f} ms quiet ({ratio:.1f}x)"
    )
    attack.note(f"{measured}; guesses answered {dict(sorted(guesses.items()))}")
    if ratio > 2:
        attack.found(measured)


def other_users_objects(world: World, attack: Attack) -> None:
    """bob (token and session) and the staff user without purchase.change_purchase at
    alice's purchase and payment: 404 (403 for staff), and nothing changes."""
    alice = Client(attack, token=world.token("alice"))
    bought = buy(alice, world.films(1)[0])
    if bought.status != 201:
        raise CannotRun(f"alice could not buy a film ({bought.status} {short(bought.text)})")
    purchase, payment = bought.data["id"], bought.data["payment"]["id"]

    def alices_books() -> tuple:
        return (
            alice.get(f"/api/purchases/{purchase}/").data.get("status"),
            alice.get(f"/api/payments/{payment}/").data.get("status"),
            alice.get("/api/mileage/").data.get("balance"),
        )

    bob = Client(attack, token=world.token("bob"))
    bob_web = Client(attack, cookies=world.bob_session)
    web_csrf = bob_web.csrf(f"/films/{world.priced[0]}/")  # any page with a form
    staff = Client(attack, token=world.token("editor"))
    form = {"data": {"csrfmiddlewaretoken": web_csrf}}  # as the storefront posts
    fetch = {"headers": {"X-CSRFToken": web_csrf}}  # as a script of the page would
    probes = [  # (who, as whom, method, path, what else it sends, the answers allowed)
        ("bob", bob, "GET", f"/api/purchases/{purchase}/", {}, {404}),
        ("bob", bob, "GET", f"/api/payments/{payment}/", {}, {404}),
        ("bob", bob, "POST", f"/api/purchases/{purchase}/cancel/", {}, {404}),
        ("bob's session", bob_web, "GET", f"/purchases/{purchase}/", {}, {404}),
        ("bob's session", bob_web, "GET", f"/purchases/{purchase}/cancel/", {}, {404}),
        ("bob's session", bob_web, "POST", f"/purchases/{purchase}/cancel/", form, {404}),
        ("bob's session", bob_web, "POST", f"/api/purchases/{purchase}/cancel/", fetch, {404}),
        ("staff", staff, "GET", f"/api/purchases/{purchase}/", {}, {403, 404}),
        ("staff", staff, "POST", f"/api/purchases/{purchase}/cancel/", {}, {403, 404}),
    ]
    before = alices_books()
    heard = []
    for who, client, method, path, kwargs, allowed in probes:
        answer = client.call(method, path, **kwargs)
        heard.append(f"{who} {method} {path}: {answer.status}")
        after = alices_books()
        wrong = []
        if answer.status not in allowed:
            wrong.append(f"answered {answer.status}, must be {'/'.join(map(str, sorted(allowed)))}")
        if after != before:
            wrong.append(f"changed alice's purchase, payment, points {before} -> {after}")
            before = after
        if wrong:
            attack.found(f"{who}: {method} {path} {' and '.join(wrong)}")
    listed = bob.get(f"/api/payments/?purchase={purchase}").data.get("results")
    if listed:
        attack.found(f"bob: GET /api/payments/?purchase={purchase} lists alice's payment")
    attack.note("; ".join(heard))


def mass_assignment(world: World, attack: Attack) -> None:
    """Extra fields in a purchase and in a sign-up must change nothing that is stored."""
    alice = Client(attack, token=world.token("alice"))
    film = world.films(1)[0]
    real = alice.get(f"/api/vods/{film}/").data
    extra = {
        "status": "cancelled",
        "amount": 1,
        "user": world.users["bob"],
        "user_id": world.users["bob"],
        "id": 987654,
        "vod_title": "Injected",
        "created_at": "2001-01-01T00:00:00Z",
        "payment": {"amount": 1, "status": "cancelled"},
    }
    order = {"vod": film, "payment_method": "card", **extra}
    answer = alice.wait_while_refused(lambda: alice.post("/api/purchases/", json=order))
    if answer.status == 201:
        stored = alice.get(f"/api/purchases/{answer.data['id']}/").data
        kept = {k: stored.get(k) for k in ("id", "status", "amount", "vod_title", "created_at")}
        attack.note(f"a purchase with extra fields: 201, stored as {kept}")
        expected = {"status": "paid", "amount": real["price"], "vod_title": real["title"]}
        for name, value in expected.items():
            if stored.get(name) != value:
                attack.found(f"purchase {name} stored as {stored.get(name)!r}, not {value!r}")
        if stored.get("id") == extra["id"] or str(stored.get("created_at", "")).startswith("2001"):
            attack.found("purchase id or created_at taken from the request")
        if (stored.get("payment") or {}).get("amount") != real["price"]:
            attack.found(f"payment stored as {stored.get('payment')}")
        bobs = Client(attack, token=world.token("bob")).get("/api/purchases/?page_size=100")
        if any(p.get("id") == answer.data["id"] for p in bobs.data.get("results", [])):
            attack.found("alice's purchase was stored as bob's")
    else:
        attack.note(f"the purchase with extra fields answered {answer.status}")

    # A sign-up that asks to be staff and superuser, then tries what staff may do.
    name = f"mallory{secrets.randbelow(10**6)}"
    signup = {
        "username": name,
        "password": secrets.token_urlsafe(18),
        "is_staff": True,
        "is_superuser": True,
        "groups": [1],
        "user_permissions": [1, 2, 3],
    }
    answer = Client(attack).post("/api/auth/signup/", json=signup)
    if answer.status != 201 or not answer.data.get("token"):
        attack.note(f"the sign-up with is_staff/is_superuser answered {answer.status}")
        return
    mallory = Client(attack, token=answer.data["token"])
    film = {"title": "Mallory's film", "genre": "drama", "release_year": 2020}
    film |= {"runtime_minutes": 90, "price": 1000}
    added = mallory.post("/api/vods/", json=film)
    attack.note(f"a sign-up with is_staff/is_superuser: 201; its POST /api/vods/: {added.status}")
    if added.status == 201:
        attack.found("a sign-up with is_staff/is_superuser could add a film (POST /api/vods/ 201)")
    admin = Client(attack)
    login = admin.post_form(
        "/admin/login/", {"username": name, "password": signup["password"], "next": "/admin/"}
    )
    if login.status == 302 and "login" not in login.headers.get("Location", ""):
        attack.found("a sign-up with is_staff/is_superuser could log in to admin")


ODD_GETS = [  # (identity, path): none may answer 5xx
    ("anonymous", "/?q=%00"),
    ("anonymous", "/?q=%01%02%1b%7f"),
    ("anonymous", "/?q=%0d%0aSet-Cookie:%20x=1"),
    ("anonymous", "/?genre=%00&page=%00"),
    ("anonymous", "/?q=%F0%9F%8E%AC%E2%80%AE%ED%95%9C"),
    ("anonymous", "/?q=%FF%FE%FD"),
    ("anonymous", "/?q=" + "a" * 3000),  # (gunicorn refuses request lines over 4094)
    ("anonymous", "/?page=99999999999999999999999"),
    ("anonymous", "/?page=-1"),
    ("anonymous", "/%00"),
    ("anonymous", "/films/99999999999999999999999/"),
    ("anonymous", "/films/9223372036854775808/"),
    ("anonymous", "/films/999999999999999999/"),
    ("anonymous", "/films/-1/"),
    ("anonymous", "/films/%D9%A3/"),
    ("anonymous", "/films/1%00/"),
    ("anonymous", "/api/vods/?search=%00"),
    ("anonymous", "/api/vods/?search=%00%00%00%01"),
    ("anonymous", "/api/vods/?search=%ED%A0%80"),
    ("anonymous", "/api/vods/?search=%F0%9F%8E%AC%20%22%20%27"),
    ("anonymous", "/api/vods/?search=" + "%25" * 1000),
    ("anonymous", "/api/vods/?genre=%00"),
    ("anonymous", "/api/vods/?ordering=%00"),
    ("anonymous", "/api/vods/?ordering=-%C2%B2,%00"),
    ("anonymous", "/api/vods/?page=%00"),
    ("anonymous", "/api/vods/?page=-1"),
    ("anonymous", "/api/vods/?page=99999999999999999999999"),
    ("anonymous", "/api/vods/?page_size=%C2%B2"),
    ("anonymous", "/api/vods/?page_size=-5"),
    ("anonymous", "/api/vods/?page_size=99999999999999999999"),
    ("anonymous", "/api/vods/99999999999999999999999/"),
    ("anonymous", "/api/vods/9223372036854775808/"),
    ("anonymous", "/api/vods/999999999999999999/"),
    ("anonymous", "/api/vods/-1/"),
    ("anonymous", "/api/vods/%00/"),
    ("anonymous", "/api/vods/%D9%A3/"),
    ("bob", "/api/payments/?purchase=%C2%B2"),
    ("bob", "/api/payments/?purchase=%E2%91%A0"),
    ("bob", "/api/payments/?purchase=%D9%A3"),
    ("bob", "/api/payments/?purchase=%00"),
    ("bob", "/api/payments/?purchase=-1"),
    ("bob", "/api/payments/?purchase=99999999999999999999999"),
    ("bob", "/api/payments/999999999999999999/"),
    ("bob", "/api/payments/-1/"),
    ("bob", "/api/purchases/?status=%00"),
    ("bob", "/api/purchases/?status=%F0%9F%8E%AC"),
    ("bob", "/api/purchases/999999999999999999/"),
    ("bob", "/api/purchases/-1/"),
    ("bob", "/api/mileage/entries/?page=%C2%B2"),
    ("bob's session", "/purchases/999999999999999999/"),
    ("bob's session", "/purchases/?page=%00"),
    ("bob's session", "/films/999999999999999999/watch/"),
]

ODD_PURCHASES = [  # raw JSON bodies for POST /api/purchases/, as bob
    '{"vod": "1\\u0000", "payment_method": "card\\u0000"}',
    '{"vod": 100000000000000000000000000000, "payment_method": "card"}',
    '{"vod": -1, "payment_method": "card"}',
    '{"vod": "\\u00b2", "payment_method": "card"}',
    '{"vod": 1e400, "payment_method": "card"}',
    '{"vod": NaN, "payment_method": "card"}',
    '{"vod": [1], "payment_method": {"card": 1}}',
    '{"vod": 1, "payment_method": "\\ud800"}',
]


def odd_characters(world: World, attack: Attack) -> None:
    """NUL bytes, control characters, huge and negative ids, unicode: no 5xx, and what
    is reflected into a page is escaped."""
    clients = {
        "anonymous": Client(attack),
        "bob": Client(attack, token=world.token("bob")),
        "bob's session": Client(attack, cookies=world.bob_session),
    }
    for identity, path in ODD_GETS:
        clients[identity].get(path)
    json_type = {"Content-Type": "application/json"}
    for body in ODD_PURCHASES:
        raw = body.encode()
        clients["bob"].post("/api/purchases/", data=raw, headers=json_type, label=body)
    clients["bob"].post(
        "/api/purchases/",
        json={"vod": world.priced[-1], "payment_method": "card"},
        headers={"Idempotency-Key": "caf\xe9\x01"},
        label="Idempotency-Key: caf\\xe9\\x01",
    )
    nul = {"username": "tar\x00get", "password": "pass\x00word"}
    clients["anonymous"].post("/api/auth/token/", json=nul, label="(NUL in both)")
    clients["anonymous"].post("/api/auth/signup/", json=nul, label="(NUL in both)")
    odd_name = {**nul, "username": "\u202e\U0001f3ac"}
    clients["anonymous"].post("/api/auth/signup/", json=odd_name, label="(RTL override, emoji)")
    Client(attack).post_form("/accounts/login/", {**nul, "next": "/\x00"})
    Client(attack).post_form("/accounts/signup/", {"username": "a\x00", "password1": "x\x00"})

    script = "<script>alert(1)</script>"
    for path in (f"/?q={script}", f"/accounts/login/?next={script}"):
        if script in clients["anonymous"].get(path).text:
            attack.found(f"GET {path} reflects the script unescaped")


def deep_json(world: World, attack: Attack) -> None:
    """A body nested 1,000 deep, as an object and as a list, to the three JSON doors."""
    depth = 1000
    bodies = {
        "object": '{"username": ' * depth + '"x"' + "}" * depth,
        "list": "[" * depth + "]" * depth,
    }
    doors = [
        (Client(attack), "/api/auth/signup/"),
        (Client(attack), "/api/auth/token/"),
        (Client(attack, token=world.token("bob")), "/api/purchases/"),
    ]
    for client, path in doors:
        for shape, body in bodies.items():
            json_type = {"Content-Type": "application/json"}
            client.post(path, data=body.encode(), headers=json_type, label=f"({shape})")


EVIL = "//evil.example/"


def off_site(attack: Attack, what: str, answer: Answer) -> None:
    """A finding when `answer` redirects to another site."""
    location = answer.headers.get("Location", "")
    if "evil.example" in location:
        attack.found(f"{what} redirects to {location}")


def odd_requests(world: World, attack: Attack) -> None:
    """`?next=` on the account pages, OPTIONS and other methods, an unknown page: no 5xx,
    no open redirect, no debug page."""
    client = Client(attack)
    for path in ("/accounts/signup/?next=abc", "/accounts/login/?next=abc"):
        client.get(path)
    for method, path in [
        ("OPTIONS", "/api/docs/"),
        ("OPTIONS", "/api/schema/"),
        ("OPTIONS", "/api/"),
        ("OPTIONS", "/api/vods/"),
        ("OPTIONS", "/"),
        ("OPTIONS", "/accounts/login/"),
        ("TRACE", "/"),
        ("PUT", "/api/docs/"),
        ("DELETE", "/api/schema/"),
        ("HEAD", f"/films/{world.priced[0]}/"),
        ("PATCH", "/accounts/signup/?next=abc"),
    ]:
        client.call(method, path)
    # ?next= where it is followed: a signed-in visitor of the sign-up page, a log-in,
    # a sign-up. Never to another site; a plain word is no 500.
    bob_web = Client(attack, cookies=world.bob_session)
    for target in ("abc", EVIL):
        answer = bob_web.get(f"/accounts/signup/?next={target}")
        off_site(attack, f"signed in, GET /accounts/signup/?next={target}", answer)
    answer = Client(attack).post_form(
        "/accounts/login/", {**credentials_of(world, "alice"), "next": f"https:{EVIL}"}
    )
    if answer.status != 302:
        attack.note(f"alice's log-in through the form answered {answer.status}")
    off_site(attack, f"log-in with next=https:{EVIL}", answer)
    password = secrets.token_urlsafe(18)
    for target in ("abc", EVIL):
        fields = {"username": f"newcomer{secrets.randbelow(10**6)}", "next": target}
        fields |= {"password1": password, "password2": password}
        answer = Client(attack).post_form("/accounts/signup/", fields)
        if answer.status != 302:
            attack.note(f"the sign-up form with next={target} answered {answer.status}")
        off_site(attack, f"sign-up with next={target}", answer)
    missing = client.get("/no-such-page/")
    if "URLconf" in missing.text or "Traceback" in missing.text:
        attack.found("an unknown page shows Django's debug page")


def points_exploit(world: World, attack: Attack) -> None:
    """Five ₩0 films by card must not earn what buys an expensive film with points."""
    zero = Client(attack, token=world.token("zero"))
    answers = [buy(zero, film).status for film in world.free]
    balance = zero.get("/api/mileage/").data.get("balance")
    attack.note(f"five ₩0 films by card: {answers}; then a balance of {balance} points")
    if answers.count(201) < len(world.free):
        attack.note("not every ₩0 film could be bought, so fewer points were at stake")
    free_ride = buy(zero, world.expensive, method="mileage")
    if free_ride.status == 201:
        attack.found(
            f"five ₩0 films by card earned {balance} points, which bought the "
            f"₩{EXPENSIVE:,} film for free (201)"
        )
    else:
        attack.note(
            f"the free film with those points: {free_ride.status} {free_ride.data.get('code')}"
        )


def races(world: World, attack: Attack) -> None:
    """32 concurrent purchases of one film by one user, and 32 concurrent free
    purchases of different films with exactly 5000 points: exactly one 201 each."""
    film = world.films(1)[0]
    answers = all_at_once(attack, world.token("racer"), [(film, "card")] * RACERS)
    owned = Client(attack, token=world.token("racer")).get("/api/purchases/?status=paid")
    stored = [p for p in owned.data.get("results", []) if p.get("vod") == film]
    tell(attack, f"{RACERS} concurrent card purchases of one film", answers, len(stored))

    spender = Client(attack, token=world.token("spender"))
    for bought in world.films(FREE_COST // EARN):  # exactly enough points
        if buy(spender, bought).status != 201:
            raise CannotRun("the spender could not buy the films that earn its points")
    balance = None
    for _ in range(50):  # points arrive after commit
        balance = spender.get("/api/mileage/").data.get("balance")
        if balance == FREE_COST:
            break
        time.sleep(0.2)
    if balance != FREE_COST:
        raise CannotRun(f"the spender has {balance} points, not exactly {FREE_COST}")
    films = world.films(RACERS)
    answers = all_at_once(attack, world.token("spender"), [(f, "mileage") for f in films])
    owned = spender.get("/api/purchases/?status=paid&page_size=100")
    stored = [p for p in owned.data.get("results", []) if p.get("payment_method") == "mileage"]
    tell(
        attack, f"{RACERS} concurrent free purchases with {FREE_COST} points", answers, len(stored)
    )
    after = spender.get("/api/mileage/").data.get("balance")
    entries = spender.get("/api/mileage/entries/?page_size=100").data.get("results", [])
    ledger = sum(entry.get("delta", 0) for entry in entries)
    if after is None or after < 0 or after != ledger:
        attack.found(f"after the free purchases: balance {after}, ledger {ledger}")


def all_at_once(attack: Attack, token: str, orders: list[tuple[int, str]]) -> list[Answer]:
    """Each order from its own client, released together (connections opened first)."""
    clients = [Client(attack, token=token) for _ in orders]
    for client in clients:
        client.get("/healthz")
    start = threading.Barrier(len(orders))
    answers: list[Answer] = [Answer(0)] * len(orders)

    def send(i: int) -> None:
        film, method = orders[i]
        start.wait()
        answers[i] = clients[i].post(
            "/api/purchases/", json={"vod": film, "payment_method": method}
        )

    run_together(send, list(range(len(orders))))
    return answers


def tell(attack: Attack, what: str, answers: list[Answer], stored: int) -> None:
    statuses = dict(sorted(Counter(a.status for a in answers).items()))
    created = sum(a.status == 201 for a in answers)
    attack.note(f"{what}: {statuses}, {stored} stored")
    if created != 1 or stored != 1:
        attack.found(f"{what}: {created} answered 201 and {stored} stored, not exactly one")


def metrics(world: World, attack: Attack) -> None:
    answer = Client(attack).get("/metrics")
    if answer.status == 200 and re.search(r"^# (TYPE|HELP) ", answer.text, re.MULTILINE):
        lines = sum(1 for line in answer.text.splitlines() if line and not line.startswith("#"))
        attack.found(f"anonymous GET /metrics (from {HOST}, no token): 200, {lines} samples")
    else:
        attack.note(f"anonymous GET /metrics: {answer.status}")


def readyz(world: World, attack: Attack) -> None:
    answer = Client(attack).get("/readyz")
    where = [HOST, "localhost", str(PG_PORT), str(REDIS_PORT), "://", "postgres@", "pg-run"]
    named = [w for w in where if w in answer.text]
    if named:
        attack.found(f"/readyz names {', '.join(named)}: {short(answer.text, 200)}")
    attack.note(f"/readyz: {answer.status} {short(answer.text, 120)}")


SECURITY_HEADERS = {  # header -> the value it needs (None: any)
    "Content-Security-Policy": None,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": None,
    "Referrer-Policy": None,
}


def script_sources(policy: str) -> list[str]:
    """Where a Content-Security-Policy lets scripts come from (script-src, or default-src)."""
    directives = {}
    for directive in policy.split(";"):
        if words := directive.split():
            directives[words[0].lower()] = words[1:]
    return directives.get("script-src", directives.get("default-src", []))


def headers(world: World, attack: Attack) -> None:
    """The storefront's pages carry a Content-Security-Policy and the usual headers."""
    client = Client(attack)
    pages = ["/", f"/films/{world.priced[0]}/", "/accounts/login/"]
    missing: dict[str, list[str]] = {}
    for page in pages:
        got = client.get(page).headers
        for name, needed in SECURITY_HEADERS.items():
            if got.get(name) is None or (needed and got[name].lower() != needed):
                missing.setdefault(name, []).append(page)
        policy = got.get("Content-Security-Policy", "")
        if got.get("Content-Security-Policy-Report-Only") and not policy:
            attack.note(f"{page}: a Content-Security-Policy-Report-Only only, not enforced")
        scripts = script_sources(policy)
        if "'unsafe-inline'" in scripts or "'unsafe-eval'" in scripts:
            attack.note(f"{page}: the policy lets scripts run from {' '.join(scripts)}")
    for name, where in missing.items():
        attack.found(f"no {name} on {', '.join(where)}")


# The attacks of the outside review, in the table's order, which is the order they
# run (after schemathesis). Each connects from a loopback address of its own, and the
# accounts whose books they check are theirs alone, so none decides another's result.
ATTACKS: dict[str, Callable[[World, Attack], None]] = {
    "brute force": brute_force,
    "log-in flood": login_flood,
    "other users' objects": other_users_objects,
    "mass assignment": mass_assignment,
    "odd characters": odd_characters,
    "deep JSON": deep_json,
    "odd requests": odd_requests,
    "points exploit": points_exploit,
    "races": races,
    "/metrics": metrics,
    "/readyz": readyz,
    "headers": headers,
}
IDENTITIES = {"anonymous": None, "user": "bob", "staff": "editor"}  # schemathesis runs as

WHAT = {  # what each attack class checks, in the table's order
    "schemathesis (anonymous)": "`st run --checks all` against /api/schema/, no credentials",
    "schemathesis (user)": "the same with a user's `Authorization: Token`",
    "schemathesis (staff)": "the same as staff with catalog.add_vod only",
    "brute force": f"{WRONG_PASSWORDS} wrong passwords for one account at the token API, "
    "the log-in form and admin: one must be refused (429 or a lock-out)",
    "log-in flood": f"{FLOOD_CLIENTS} clients of one machine guess passwords at the log-in "
    f"form for {FLOOD_SECONDS:.0f} s (2 a second each): the film page's p50 stays within "
    "2x its quiet p50",
    "other users' objects": "bob's token and session, and staff without "
    "purchase.change_purchase, at alice's purchase and payment: 404/403, nothing changes",
    "mass assignment": "status, amount, user, id in a purchase; is_staff in a sign-up: "
    "nothing stored from them",
    "odd characters": "NUL, control characters, huge and negative ids, unicode in "
    "paths, queries and bodies: no 5xx; reflected text escaped",
    "deep JSON": "bodies nested 1,000 deep to sign-up, token and purchases: no 5xx",
    "odd requests": "`?next=abc`, `OPTIONS /api/docs/` and other methods, an unknown "
    "page: no 5xx, no open redirect, no debug page",
    "points exploit": "five ₩0 films by card, then a free film with the points: refused",
    "races": f"{RACERS} concurrent buys of one film; {RACERS} concurrent free buys "
    f"with exactly {FREE_COST} points: exactly one 201 each",
    "/metrics": "anonymous GET /metrics: no data",
    "/readyz": "its body names no host or port",
    "headers": "Content-Security-Policy (and nosniff, frame, referrer) on storefront pages",
}


def run_together(task: Callable, items: list) -> None:
    threads = [threading.Thread(target=task, args=(item,), daemon=True) for item in items]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def run_attack(name: str, attack: Callable[[World, Attack], None], world: World) -> Attack:
    row = Attack(name, address=f"127.0.0.{10 + list(ATTACKS).index(name)}")
    try:
        attack(world, row)
    except CannotRun as exc:
        row.broken = str(exc)
    return row


# --- the report -------------------------------------------------------------------------


def table(rows: list[Attack]) -> str:
    lines = [
        "| attack class | requests | 5xx | findings | what was found |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        found = row.findings + ([f"could not run: {row.broken}"] if row.broken else [])
        for error, times in sorted(Counter(row.server_errors).items()):
            found.append(f"5xx: {error}" + (f" ({times}x)" if times > 1 else ""))
        cell = "<br>".join(cell_text(f) for f in found) or "nothing"
        lines.append(
            f"| {row.name} | {row.requests} | {len(row.server_errors)} | "
            f"{row.finding_count} | {cell} |"
        )
    return "\n".join(lines)


def cell_text(text: str) -> str:
    return short(text, 200).replace("|", "\\|").replace("\n", " ")


def details(rows: list[Attack]) -> str:
    out = []
    for row in rows:
        out.append(f"- **{row.name}**: {WHAT.get(row.name, '')}")
        if row.busy:
            out.append(f"  - {row.busy} answers 503 payment_unavailable with Retry-After (not 5xx)")
        out += ["  - " + note.replace("\n", "\n    ") for note in row.notes]
    return "\n".join(out)


def report(row: Attack) -> Attack:
    """One line as each attack ends."""
    state = f", could not run: {row.broken}" if row.broken else ""
    print(
        f"- {row.name}: {row.requests} requests, {len(row.server_errors)} 5xx, "
        f"{row.finding_count} findings{state}",
        flush=True,
    )
    return row


def chosen(name: str) -> bool:
    return not ONLY or name in ONLY


def preflight() -> None:
    known = {attack.__name__ for attack in ATTACKS.values()}
    if ONLY - known - {"schemathesis"}:
        raise SystemExit(
            f"security: unknown SECURITY_ONLY {', '.join(sorted(ONLY - known))}; "
            f"the names: schemathesis, {', '.join(sorted(known))}"
        )
    for port in (REDIS_PORT, PG_PORT, WEB_PORT):
        if port_in_use(port):
            raise SystemExit(
                f"security: something already listens on {HOST}:{port}; this check starts "
                "its own services there (a run killed with -9 may have left one: stop it by "
                "its pid)"
            )


def main() -> int:
    preflight()
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop what it started, too
    work = Path(tempfile.mkdtemp(prefix="vod-security-"))
    work.chmod(0o711)  # the postgres user reaches its folders inside
    lab = Lab(work, redis_port=REDIS_PORT, pg_port=PG_PORT, web_port=WEB_PORT, gunicorn=GUNICORN)
    started = time.monotonic()
    print(
        f"security: the store on {STORE} (PostgreSQL {PG_PORT}, Redis {REDIS_PORT}); logs in {work}"
    )
    rows: dict[str, Attack] = {}
    setup = Attack("set-up")
    try:
        try:
            world = open_store(lab)
            sign_in(world, setup)
        except CannotRun as exc:
            raise SystemExit(f"security: set-up failed: {exc}") from exc
        films = len(world.free) + len(world.priced) + 1
        print(f"- set-up: {len(PEOPLE)} accounts, {films} films, {setup.requests} requests")
        for identity, who in IDENTITIES.items():
            if chosen("schemathesis"):
                row = schemathesis(lab, identity, world.tokens.get(who))
                still_signed_in(world, setup, row)
                rows[row.name] = report(row)
        for name, attack in ATTACKS.items():
            if chosen(attack.__name__):
                rows[name] = report(run_attack(name, attack, world))
    finally:
        lab.close()

    ordered = [rows[name] for name in WHAT if name in rows]  # the table's order
    total = sum(r.requests for r in ordered)
    errors = sum(len(r.server_errors) for r in ordered)
    findings = sum(r.finding_count for r in ordered)
    broken = [r.name for r in ordered if r.broken]
    last = f"security: {total} requests, {errors} 5xx, {findings} findings"
    minutes = (time.monotonic() - started) / 60
    report_text = "\n\n".join(
        [
            f"Security check, {datetime.now():%Y-%m-%d %H:%M}: the store with production "
            f"settings on {STORE}, PostgreSQL and Redis of its own, over HTTP from outside; "
            f"schemathesis seed {SEED}, {EXAMPLES} examples, {FUZZ_SECONDS} s per identity; "
            f"{minutes:.1f} minutes in all ({setup.requests} requests of set-up not counted). "
            "A finding is something the store did that it must not; a request with no "
            "answer counts as a 5xx, a 503 payment_unavailable with Retry-After does not.",
            table(ordered),
            details(ordered),
            *([f"Could not run: {', '.join(broken)}"] if broken else []),
            last,
        ]
    )
    report_write("security", report_text)
    print("\n" + report_text.removesuffix(last).rstrip() + "\n")
    failed = bool(errors or findings or broken)
    if failed:
        print(f"(logs and schemathesis' reports are kept in {work})")
    else:
        shutil.rmtree(work, ignore_errors=True)
    print(last)
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        with contextlib.suppress(Exception):
            print("security: interrupted; what it started is stopped", file=sys.stderr)
        sys.exit(130)
