"""`make history`: how the staff's and the buyers' pages hold up after years of history
(issue 17), against a young store; writes reports/history.md.

Two stores, each a PostgreSQL database of its own on the machine's server (127.0.0.1,
`HISTORY_PG_URL`; no other database is touched, the server is never stopped):

| store, database | purchases | buyers | over days |
|---|---|---|---|
| history, vodstore_history | HISTORY_PURCHASES, 10,000,000 | HISTORY_BUYERS, 20,000 | 1,095 |
| young, vodstore_history_young | ..._YOUNG_PURCHASES, 10,000 | ..._YOUNG_BUYERS, 1,000 | 30 |

(the days: HISTORY_DAYS and HISTORY_YOUNG_DAYS; the young store's database is the
history's name with "_young").

Each is migrated, given HISTORY_FILMS demo films (10,000) and filled by
`scripts.history_build` (set-based SQL: payments, gateway operations, points, delivered
outbox events with their deliveries; see there). A store is kept between runs: its
database's comment records what it was built with (size, builder, migrations), and a
store whose record matches the request and the migrations on disk (all applied) is
used again (`--migrate`: one whose migrations are only behind the disk's is migrated
forward instead of built again). `--rebuild` builds both again, `--drop` drops both.
Before a build the tool checks the disk (`df -h /work`), says what the store will
take, and refuses when too little is free.

Then it serves the two stores side by side, each with its own gunicorn on 127.0.0.1
(one worker, one thread; DEBUG off, /metrics open to 127.0.0.1), and asks them in
turns, request by request (so that other work on the machine weighs on both alike),
one request at a time, HISTORY_WARMUP (3) then HISTORY_TIMED (10) times each (fewer
for a page slower than a second: 5 timed under 5 s, 2 under 30 s, else 1), and
reports the median and the maximum of the timed requests:
- every admin change list, each choice of each of its filters (up to 6 per filter),
  a search of each kind its search fields take (a purchase id, a username, a gateway
  reference, ...), the admin's index and the admins' own pages (the sales overview),
  all derived from `admin.site` as the code has it at the time of the run, as a
  superuser signed in with a session cookie; and each admin's change page of an object
  of the typical buyer and of the busiest (their account, their latest purchase,
  payment, operation, ledger entry, ...; the latest row where no buyer has one);
- /metrics as served (its counts kept `METRICS_COUNT_SECONDS`), and with every count
  made afresh (`METRICS_COUNT_SECONDS=0`, servers of their own);
- a buyer's pages, as the typical buyer (the median number of purchases) and as the
  busiest: the API's purchases, payments, points and ledger (token), and the library,
  purchases and points pages (session).
Targets: staff pages under 200 ms, /metrics under 50 ms (medians, on the history);
a buyer's pages within 1.5x of the young store's. The EXPLAIN (ANALYZE, BUFFERS) of
the slowest query of the slowest staff pages follows the table.

A buyer's pages get HISTORY_BUYER_TIMED (30) timed requests: their target is a ratio
of two figures of some 10 ms on a machine others may share.

Knobs: the HISTORY_* above, HISTORY_PORT (8771), HISTORY_WARMUP, HISTORY_TIMED,
HISTORY_BUYER_TIMED.
`python -m scripts.history --no-measure` only builds (or checks) the stores.
"""

import argparse
import contextlib
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import urlencode, urlsplit, urlunsplit

from scripts.history_build import BUILDER_VERSION, SEED
from scripts.runner import HOST, ROOT, manage, port_in_use, report_write, run, serving, store_env

PG_URL = os.environ.get("HISTORY_PG_URL", "postgres://postgres@127.0.0.1:5432/vodstore_history")
PURCHASES = int(os.environ.get("HISTORY_PURCHASES", "10000000"))
BUYERS = int(os.environ.get("HISTORY_BUYERS", "20000"))
DAYS = float(os.environ.get("HISTORY_DAYS", "1095"))
YOUNG_PURCHASES = int(os.environ.get("HISTORY_YOUNG_PURCHASES", "10000"))
YOUNG_BUYERS = int(os.environ.get("HISTORY_YOUNG_BUYERS", "1000"))
YOUNG_DAYS = float(os.environ.get("HISTORY_YOUNG_DAYS", "30"))
FILMS = int(os.environ.get("HISTORY_FILMS", "10000"))
PORT = int(os.environ.get("HISTORY_PORT", "8771"))
WARMUP = int(os.environ.get("HISTORY_WARMUP", "3"))
TIMED = int(os.environ.get("HISTORY_TIMED", "10"))
# A buyer's pages take some 10 ms, and their target is a ratio of two such figures on a
# machine others share: more samples for them (they cost little).
BUYER_TIMED = int(os.environ.get("HISTORY_BUYER_TIMED", "30"))

# What a purchase takes on disk with everything it brings (payment, operations, points,
# events, deliveries, their indexes), as measured: 3.8 KB at 100,000 purchases, 3.3 KB
# at 10,000,000 (31 GB); the build needs room for its sorts and the server's WAL besides.
BYTES_PER_PURCHASE = 3600
HEADROOM = 1.3
SPARE_GB = 10  # left free for everyone else on the machine
GB = 1024**3
BUILD_TIMEOUT = 6 * 3600
REQUEST_TIMEOUT = 600  # gunicorn's worker timeout too
GUNICORN = [
    *("--workers", "1", "--worker-class", "gthread", "--threads", "1"),
    *("--timeout", str(REQUEST_TIMEOUT)),
]
STAFF_TARGET_MS, METRICS_TARGET_MS, BUYER_TARGET_RATIO = 200, 50, 1.5


@dataclass(frozen=True)
class Store:
    role: str  # "young" or "history"
    url: str
    purchases: int
    buyers: int
    days: float

    @property
    def database(self) -> str:
        return urlsplit(self.url).path.lstrip("/")

    def record(self) -> dict:
        """What a build of this store is made of (the marker compares it)."""
        return {
            "purchases": self.purchases,
            "buyers": self.buyers,
            "days": self.days,
            "films": FILMS,
            "seed": SEED,
            "builder": BUILDER_VERSION,
        }


def stores() -> list[Store]:
    young = urlunsplit(urlsplit(PG_URL)._replace(path=urlsplit(PG_URL).path + "_young"))
    return [
        Store("young", young, YOUNG_PURCHASES, YOUNG_BUYERS, YOUNG_DAYS),
        Store("history", PG_URL, PURCHASES, BUYERS, DAYS),
    ]


# --- the server's databases --------------------------------------------------------------


def pg_admin(query, params: tuple = ()) -> list[tuple]:
    """A statement on the server, from its maintenance database, in autocommit; its
    rows, if any."""
    import psycopg

    url = urlunsplit(urlsplit(PG_URL)._replace(path="/postgres"))
    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        cursor = conn.execute(query, params)
        return cursor.fetchall() if cursor.description else []


def database_exists(name: str) -> bool:
    return bool(pg_admin("SELECT 1 FROM pg_database WHERE datname = %s", (name,)))


def marker_read(name: str) -> dict | None:
    rows = pg_admin(
        "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
        (name,),
    )
    with contextlib.suppress(TypeError, ValueError, IndexError):
        marker = json.loads(rows[0][0])
        return marker if marker.get("tool") == "history" else None
    return None


def marker_write(name: str, marker: dict) -> None:
    from psycopg import sql

    pg_admin(
        sql.SQL("COMMENT ON DATABASE {} IS {}").format(
            sql.Identifier(name), sql.Literal(json.dumps(marker))
        )
    )


def database_drop(name: str) -> None:
    from psycopg import sql

    pg_admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def database_create(name: str) -> None:
    from psycopg import sql

    pg_admin(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def database_size(name: str) -> int:
    return pg_admin("SELECT pg_database_size(%s)", (name,))[0][0]


# --- in the store ---------------------------------------------------------------------------


def task(env: dict, name: str, *, timeout: float = 1800, **arguments):
    """One of `scripts.history_build.TASKS` inside the store of `env`; its answer. Its
    progress (standard error) is shown as it goes."""
    try:
        done = subprocess.run(  # noqa: S603 - our own module
            [sys.executable, "-m", "scripts.history_build", name],
            cwd=ROOT,
            env=env,
            input=json.dumps(arguments),
            stdout=subprocess.PIPE,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        raise SystemExit(f"history: {name} did not finish in {timeout:.0f} s") from None
    if done.returncode:
        raise SystemExit(f"history: {name} failed ({done.returncode}): {done.stdout[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def disk_check(store: Store) -> None:
    """Say what the store will take and what is free; refuse when too little is."""
    print(run(["df", "-h", "/work"], check=False).stdout.rstrip(), flush=True)
    data = Path(pg_admin("SHOW data_directory")[0][0])
    where = data if data.exists() else Path("/work")
    # the store's old database, if any, is dropped first: its room counts as free
    old = database_size(store.database) if database_exists(store.database) else 0
    free = shutil.disk_usage(where).free + old
    need = store.purchases * BYTES_PER_PURCHASE
    wanted = need * HEADROOM + SPARE_GB * GB
    print(
        f"history: {store.database} will take about {need / GB:,.1f} GB ({store.purchases:,} "
        f"purchases at {BYTES_PER_PURCHASE:,} bytes each); {free / GB:,.1f} GB free at {where}"
        + (f" (with the {old / GB:,.1f} GB of the database it replaces)" if old else ""),
        flush=True,
    )
    if free < wanted:
        raise SystemExit(
            f"history: refusing to build {store.database}: it needs {wanted / GB:,.1f} GB free "
            f"(room for sorts and WAL, and {SPARE_GB} GB for the machine's other users)"
        )


def why_not_reusable(store: Store, env: dict, *, migrate: bool) -> str | None:
    """Why the existing database cannot serve as this store (None: it can). With
    `migrate`, a store whose migrations are behind the disk's is migrated forward
    instead (the marker then records the new state)."""
    marker = marker_read(store.database)
    if marker is None:
        return "it has no marker (a build that did not finish?)"
    if marker.get("store") != store.record():
        return f"it was built as {marker.get('store')}, not {store.record()}"
    state = task(env, "state")
    behind = set(state["applied"]) < set(state["disk"])
    if migrate and behind:
        begun = time.monotonic()
        new = sorted(set(state["disk"]) - set(state["applied"]))
        manage(env, "migrate", "--no-input", timeout=BUILD_TIMEOUT)
        print(
            f"history: migrated {store.database} forward ({', '.join(new)}) in "
            f"{time.monotonic() - begun:,.0f} s",
            flush=True,
        )
        state = task(env, "state")
        migrated = [*marker.get("migrated", []), *new]
        marker_write(
            store.database, {**marker, "migrations": state["digest"], "migrated": migrated}
        )
        return None if state["disk"] == state["applied"] else "its migrations would not apply"
    if state["disk"] != state["applied"]:
        hint = " (--migrate applies the new ones instead of building again)" if behind else ""
        return f"its migrations are not the ones on disk{hint}"
    if marker.get("migrations") != state["digest"]:
        return "it was built with other migrations (their files changed)"
    return None


def store_ready(store: Store, env: dict, *, rebuild: bool, migrate: bool) -> dict:
    """The store's marker: the existing database when it is this store, else a new one."""
    if database_exists(store.database) and not rebuild:
        reason = why_not_reusable(store, env, migrate=migrate)
        if reason is None:
            marker = marker_read(store.database) or {}
            print(
                f"history: reusing {store.database} (built {marker.get('built_at')} in "
                f"{marker.get('seconds', 0):,.0f} s)",
                flush=True,
            )
            return {**marker, "reused": True}
        print(f"history: building {store.database} again: {reason}", flush=True)
    return store_build(store, env)


def store_build(store: Store, env: dict) -> dict:
    disk_check(store)
    started = time.monotonic()
    print(
        f"history: building {store.database}: {store.purchases:,} purchases by "
        f"{store.buyers:,} buyers over {store.days:,.0f} days, {FILMS:,} films",
        flush=True,
    )
    database_drop(store.database)
    database_create(store.database)
    steps: dict[str, float] = {}
    for name, args in (
        ("migrate", ["migrate", "--no-input"]),
        ("films", ["load_demo_catalog", "--count", str(FILMS)]),
    ):
        begun = time.monotonic()
        manage(env, *args, timeout=3600)
        steps[name] = round(time.monotonic() - begun, 1)
        print(f"  {name}: {steps[name]:.1f} s", flush=True)
    built = task(
        env,
        "build",
        timeout=BUILD_TIMEOUT,
        purchases=store.purchases,
        buyers=store.buyers,
        days=store.days,
    )
    steps.update(built["steps"])
    state = task(env, "state")
    seconds = round(time.monotonic() - started, 1)
    marker = {
        "tool": "history",
        "store": store.record(),
        "migrations": state["digest"],
        "built_at": datetime.now().isoformat(timespec="minutes"),
        "seconds": seconds,
        "steps": steps,
        "rows": built["rows"],
    }
    marker_write(store.database, marker)
    size = database_size(store.database)
    print(
        f"history: {store.database} built in {seconds:,.0f} s; {size / GB:,.2f} GB "
        f"({size / store.purchases:,.0f} bytes a purchase)",
        flush=True,
    )
    return {**marker, "reused": False}


# --- asking ------------------------------------------------------------------------------------


class Browser:
    """One keep-alive connection to the store on 127.0.0.1, one request at a time."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn: http.client.HTTPConnection | None = None

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def get(self, path: str, headers: dict) -> tuple[int, float]:
        """The status and the milliseconds to the last byte (0 and the time waited when
        the request failed)."""
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(HOST, self.port, timeout=REQUEST_TIMEOUT)
            started = time.perf_counter()
            try:
                self.conn.request("GET", path, headers=headers)
                response = self.conn.getresponse()
                response.read()
            except TimeoutError:
                self.close()
                return 0, (time.perf_counter() - started) * 1000
            except (http.client.HTTPException, OSError):
                self.close()  # a kept-alive connection the server had closed: once more
                if attempt == 2:
                    return 0, (time.perf_counter() - started) * 1000
                continue
            ms = (time.perf_counter() - started) * 1000
            if response.will_close:
                self.close()
            return response.status, ms
        raise AssertionError("unreachable")


@dataclass
class Timing:
    first: float
    times: list[float]
    statuses: Counter

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def max(self) -> float:
        return max(self.times)

    @property
    def ok(self) -> bool:
        return set(self.statuses) == {200}


def ask(
    browsers: dict[str, Browser], targets: dict[str, tuple[str, dict]], planned: int = TIMED
) -> dict:
    """Each store's address (`targets`: path and headers, by store) asked in turns,
    request by request: a first request each, then WARMUP - 1 warm-up and `planned`
    timed requests each (a page slower than a second gets no more warm-up and fewer timed
    requests, so that the run stays bounded); each store's `Timing`."""
    statuses = {role: Counter() for role in targets}
    first, times, todo = {}, {role: [] for role in targets}, {}
    for role, (path, headers) in targets.items():
        status, first[role] = browsers[role].get(path, headers)
        statuses[role][status] += 1
        if first[role] < 1000:
            warm, timed = WARMUP - 1, planned
        else:
            warm, timed = 0, 5 if first[role] < 5000 else 2 if first[role] < 30000 else 1
        todo[role] = [False] * max(0, warm) + [True] * timed
    while any(todo.values()):
        for role, (path, headers) in targets.items():
            if todo[role]:
                counted = todo[role].pop(0)
                status, ms = browsers[role].get(path, headers)
                statuses[role][status] += 1
                if counted:
                    times[role].append(ms)
    return {role: Timing(first[role], times[role], statuses[role]) for role in targets}


@dataclass
class Row:
    label: str  # the same in both stores
    kind: str  # "staff", "metrics" or "buyer"
    address: str  # as the table shows it
    timings: dict[str, Timing] = field(default_factory=dict)


def requests_of(staff_pages: list[dict], who: dict) -> list[tuple[str, str, str, str, dict]]:
    """(label, kind, address shown, path, headers) of every request, in this store."""
    staff = {"Cookie": who["staff"]}
    found = []
    for page in staff_pages:
        path, shown = page["path"], page["path"].split("?")[0]
        detail = page["label"].split(": ", 1)[-1]
        if page.get("search"):
            path += "?" + urlencode({"q": who["terms"][page["search"]]})
        if ": " in page["label"] and detail != "list":
            shown += f" ({detail})"
        found.append((page["label"], "staff", shown, path, staff))
    for key, pages in sorted(who["objects"].items()):
        for role, path in pages.items():
            base = path.rstrip("/").rsplit("/", 2)[0]  # /admin/app/model/<pk>/change/
            shown = f"{base}/<id>/change/ (change page, {role})"
            found.append((f"{key}: change page, {role}", "staff", shown, path, staff))
    found.append(("metrics", "metrics", "/metrics", "/metrics", {}))
    for role, buyer in who["buyers"].items():
        for page, path in who["pages"].items():
            if page.startswith("API"):
                headers = {"Authorization": f"Token {buyer['token']}", "Accept": "application/json"}
            else:
                headers = {"Cookie": buyer["cookie"]}
            found.append((f"{page}, {role}", "buyer", f"{path} ({role})", path, headers))
    return found


def free_port() -> int:
    for port in range(PORT, PORT + 50):
        if not port_in_use(port):
            return port
    raise SystemExit(f"history: no free port in {PORT}-{PORT + 49}")


def machine_cpu() -> tuple[int, int]:
    """The machine's busy and total CPU time since boot (all cores), in ticks."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(values[:8]) - values[3] - values[4], sum(values[:8])


@contextlib.contextmanager
def servers(envs: dict[str, dict], **settings: str) -> Iterator[dict[str, Browser]]:
    """Each store served by its own gunicorn (with `settings` on top), and a browser for
    each; stopped at the end, whatever happened."""
    with contextlib.ExitStack() as stack:
        browsers = {}
        for role, env in envs.items():
            port = free_port()
            stack.enter_context(serving({**env, **settings}, port, GUNICORN))
            browsers[role] = Browser(port)
            stack.callback(browsers[role].close)
        yield browsers


def measure(envs: dict[str, dict], staff_pages: list[dict]) -> tuple[list[Row], dict]:
    """Ask every address (see the module's docstring) of both stores, one request at a
    time, the stores taking turns request by request, so that whatever else the machine
    is doing weighs on both alike; the rows in the young store's order."""
    who = {role: task(env, "people") for role, env in envs.items()}
    asked = {
        role: {label: rest for label, *rest in requests_of(staff_pages, who[role])} for role in envs
    }
    labels = list(dict.fromkeys(label for role in envs for label in asked[role]))
    print(
        f"\nhistory: measuring {len(labels) + 1} addresses in each store; typical buyer "
        + ", ".join(
            f"{role} {w['buyers']['typical buyer']['purchases']:,} purchases"
            for role, w in who.items()
        ),
        flush=True,
    )
    rows: dict[str, Row] = {}
    cpu, load = machine_cpu(), os.getloadavg()[0]

    def take_turns(browsers: dict[str, Browser], label: str, kind: str, shown: str) -> None:
        targets = {
            role: (path, headers)
            for role in browsers
            for _, _, path, headers in [asked[role].get(label, (kind, shown, "/metrics", {}))]
            if label in asked[role] or kind == "metrics"
        }
        row = rows.setdefault(label, Row(label, kind, shown))
        row.timings.update(ask(browsers, targets, planned_of(kind)))
        cells = "  ".join(
            f"{role} {t.median:9.1f} ms (max {t.max:9.1f}, first {t.first:9.1f}"
            + ("" if t.ok else f", statuses {dict(t.statuses)}")
            + ")"
            for role, t in row.timings.items()
        )
        print(f"  {cells}  {shown}", flush=True)

    with servers(envs) as browsers:
        for label in labels:
            role = next(r for r in envs if label in asked[r])
            kind, shown, _, _ = asked[role][label]
            take_turns(browsers, label, kind, shown)
    # Every count made afresh, as a scrape finds them once METRICS_COUNT_SECONDS passed.
    with servers(envs, METRICS_COUNT_SECONDS="0") as browsers:
        take_turns(browsers, "metrics, fresh", "metrics", "/metrics (every count fresh)")
    busy, total = (after - before for after, before in zip(machine_cpu(), cpu, strict=True))
    return list(rows.values()), {
        "who": who,
        "busy": 100 * busy / max(1, total),
        "load": (load, os.getloadavg()[0]),
    }


# --- the report ------------------------------------------------------------------------------


def target_of(row: Row) -> str:
    return {
        "staff": f"< {STAFF_TARGET_MS} ms",
        "metrics": f"< {METRICS_TARGET_MS} ms",
        "buyer": f"≤ {BUYER_TARGET_RATIO}x young",
    }[row.kind]


def ratio_of(row: Row) -> float | None:
    young, old = row.timings.get("young"), row.timings.get("history")
    if not young or not old or not young.median:
        return None
    return old.median / young.median


def met(row: Row) -> bool:
    old = row.timings.get("history")
    if old is None or not old.ok or not all(t.ok for t in row.timings.values()):
        return False
    if row.kind == "staff":
        return old.median < STAFF_TARGET_MS
    if row.kind == "metrics":
        return old.median < METRICS_TARGET_MS
    ratio = ratio_of(row)
    return ratio is not None and ratio <= BUYER_TARGET_RATIO


def planned_of(kind: str) -> int:
    """How many timed requests an address of this kind gets (if it is fast)."""
    return BUYER_TIMED if kind == "buyer" else TIMED


def cell(timing: Timing | None, planned: int) -> str:
    if timing is None:
        return "-"
    # fewer timed requests: the first (a warm-up) was slow, and says how slow
    n = (
        ""
        if len(timing.times) == planned
        else f" (n={len(timing.times)}, first {timing.first:,.0f})"
    )
    bad = (
        "" if timing.ok else " " + ",".join(f"{s}x{n}" for s, n in sorted(timing.statuses.items()))
    )
    return f"{timing.median:,.1f} / {timing.max:,.1f}{n}{bad}"


def table(rows: list[Row]) -> str:
    lines = [
        "| address | young store ms (median / max) | history ms (median / max) | ratio "
        "| target | met? |",
        "|---|---:|---:|---:|---|---|",
    ]
    for row in rows:
        ratio = ratio_of(row)
        lines.append(
            f"| `{row.address}` | {cell(row.timings.get('young'), planned_of(row.kind))} "
            f"| {cell(row.timings.get('history'), planned_of(row.kind))} "
            f"| {f'{ratio:.2f}' if ratio is not None else '-'} | {target_of(row)} "
            f"| {'yes' if met(row) else 'NO'} |"
        )
    return "\n".join(lines)


def summary(rows: list[Row], purchases: int) -> str:
    def history(row: Row) -> float:
        return row.timings["history"].median if "history" in row.timings else 0.0

    staff = [r for r in rows if r.kind == "staff"]
    metrics = {r.label: r for r in rows if r.kind == "metrics"}
    buyers = [r for r in rows if r.kind == "buyer"]
    missed = [r for r in rows if not met(r)]
    worst_ratio = max((ratio_of(r) or 0.0) for r in buyers) if buyers else 0.0
    line = (
        f"history: {purchases:,} purchases, staff pages max {max(map(history, staff)):,.0f} ms, "
        f"/metrics {history(metrics['metrics']):,.0f} ms "
        f"({history(metrics['metrics, fresh']):,.0f} ms with fresh counts), "
        f"buyer pages max {worst_ratio:.2f}x young: "
    )
    if not missed:
        return line + "targets met"
    names = []
    slow_staff = [r for r in missed if r.kind == "staff"]
    if slow_staff:
        names.append(f"{len(slow_staff)} of {len(staff)} staff pages")
    names += [r.address for r in missed if r.kind != "staff"]
    return line + "missed: " + "; ".join(names)


def build_table(markers: dict[str, dict]) -> str:
    steps = list(dict.fromkeys(step for m in markers.values() for step in m["steps"]))
    lines = [
        "| step | " + " | ".join(f"{role} s" for role in markers) + " |",
        "|---|" + "---:|" * len(markers),
    ]
    for step in steps:
        cells = " | ".join(f"{m['steps'].get(step, 0):,.1f}" for m in markers.values())
        lines.append(f"| {step} | {cells} |")
    totals = " | ".join(f"**{m['seconds']:,.0f}**" for m in markers.values())
    lines.append(f"| total (with the database's creation) | {totals} |")
    return "\n".join(lines)


def count(rows: int) -> str:
    """A table's estimated rows ("-" where the planner has none yet)."""
    return f"{rows:,}" if rows >= 0 else "-"


def explained(found: list[dict]) -> list[str]:
    out = []
    for page in found:
        slowest, *others = page["slowest"] or [{"ms": 0.0, "sql": ""}]
        out += [
            "",
            f"`{page['path'][:200]}`: {page['ms']:,.0f} ms in-process (status "
            f"{page['status']}), {page['queries']} queries taking {page['query_ms']:,.0f} ms; "
            f"the slowest, {slowest['ms']:,.0f} ms:",
            "",
            "```sql",
            slowest["sql"],
            "```",
        ]
        if page["plan"]:
            out += ["", "```", page["plan"], "```"]
        if others:
            out += ["", "The next:"]
            out += [f"- {q['ms']:,.1f} ms: `{q['sql'][:300]}`" for q in others]
    return out


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.history", description=__doc__)
    parser.add_argument("--rebuild", action="store_true", help="build both stores again")
    parser.add_argument("--drop", action="store_true", help="drop both stores' databases")
    parser.add_argument(
        "--migrate",
        action="store_true",
        help="migrate a kept store whose migrations are behind the disk's, not build it again",
    )
    parser.add_argument("--no-measure", action="store_true", help="build (or check) only")
    options = parser.parse_args()
    server = urlunsplit(urlsplit(PG_URL)._replace(path="/postgres"))
    if run(
        [sys.executable, "-m", "scripts.service_up", "postgres", server], check=False
    ).returncode:
        print(f"history: PostgreSQL at {PG_URL} is unreachable")
        return 2
    if options.drop:
        for store in stores():
            database_drop(store.database)
            print(f"history: dropped {store.database}")
        return 0
    started = datetime.now()
    work = Path(tempfile.mkdtemp(prefix="vod-history-"))
    try:
        envs = {
            store.role: store_env(
                work,
                DATABASE_URL=store.url,
                METRICS_ALLOWED_ADDRESSES=HOST,
                PAYMENT_SIMULATED_LATENCY_MS="0",
            )
            for store in stores()
        }
        markers = {
            store.role: store_ready(
                store, envs[store.role], rebuild=options.rebuild, migrate=options.migrate
            )
            for store in stores()
        }
        if options.no_measure:
            return 0
        manage(envs["young"], "collectstatic", "--no-input")
        staff_pages = task(envs["young"], "staff_addresses")
        ordered, measured = measure(
            {store.role: envs[store.role] for store in stores()}, staff_pages
        )
        slowest = sorted(
            (r for r in ordered if r.kind == "staff" and "history" in r.timings),
            key=lambda r: r.timings["history"].median,
            reverse=True,
        )[:3]
        paths = [
            path
            for label, _, _, path, _ in requests_of(staff_pages, measured["who"]["history"])
            if label in {r.label for r in slowest}
        ]
        print("\nhistory: the slowest staff pages' queries, explained", flush=True)
        found = task(envs["history"], "explain", timeout=3600, paths=paths)
        sizes = {store.role: task(envs[store.role], "sizes") for store in stores()}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    history_store = stores()[1]
    line = summary(ordered, history_store.purchases)
    who = {role: w["buyers"] for role, w in measured["who"].items()}
    out = [
        f"# History bench, {started:%Y-%m-%d %H:%M}, this machine ({os.cpu_count()} cores)",
        "",
        f"Stores: young ({YOUNG_PURCHASES:,} purchases by {YOUNG_BUYERS:,} buyers over "
        f"{YOUNG_DAYS:,.0f} days, {sizes['young']['database'] / GB:,.2f} GB) and history "
        f"({PURCHASES:,} purchases by {BUYERS:,} buyers over {DAYS:,.0f} days, "
        f"{sizes['history']['database'] / GB:,.2f} GB), {FILMS:,} demo films each, PostgreSQL "
        "at 127.0.0.1:5432 (`scripts/history_build.py` describes what a history holds).",
        "Each store served by its own gunicorn, one worker with one thread, DEBUG off, the "
        "cache in local memory; one request at a time over one kept-alive connection: "
        f"{WARMUP} warm-up then {TIMED} timed requests per address ({BUYER_TIMED} for a "
        "buyer's pages; fewer where the first took over a second: n says how many, and the "
        "first's time), median / "
        "max of the timed ones. Staff pages as a superuser (session cookie); buyer pages "
        "as the typical buyer (median number of purchases: young "
        f"{who['young']['typical buyer']['purchases']:,}, history "
        f"{who['history']['typical buyer']['purchases']:,}) and the busiest (young "
        f"{who['young']['busiest buyer']['purchases']:,}, history "
        f"{who['history']['busiest buyer']['purchases']:,}). Ratio: history over young "
        "(medians). Targets on the history's median: staff pages under "
        f"{STAFF_TARGET_MS} ms, /metrics under {METRICS_TARGET_MS} ms, a buyer's pages "
        f"within {BUYER_TARGET_RATIO}x of the young store's. The two stores were served "
        "side by side and asked in turns, request by request, so that other work on the "
        f"machine weighs on both alike: its {os.cpu_count()} cores were "
        f"{measured['busy']:.0f} % busy on average while measuring (load average "
        f"{measured['load'][0]:.1f} at the start, {measured['load'][1]:.1f} at the end).",
        "",
        "## Build",
        "",
        build_table(markers),
        "",
        "Reused stores show the times of their build ("
        + ", ".join(
            f"{role}: built {m.get('built_at')}{', reused' if m.get('reused') else ''}"
            + (
                f", migrated forward since with {', '.join(m['migrated'])}"
                if m.get("migrated")
                else ""
            )
            for role, m in markers.items()
        )
        + ").",
        "",
        "## The pages",
        "",
        table(ordered),
        "",
        line,
        "",
        "## The slowest staff pages, explained (history store)",
        *explained(found),
        "",
        "## Sizes (history store)",
        "",
        "| table | rows | table GB | with indexes GB |",
        "|---|---:|---:|---:|",
        *(
            f"| {t['table']} | {count(t['rows'])} | {t['heap'] / GB:,.2f} "
            f"| {t['total'] / GB:,.2f} |"
            for t in sizes["history"]["tables"]
        ),
    ]
    text = "\n".join(out) + "\n"
    print("\n" + text)
    written = report_write("history", text)
    print(f"written to {written} in {(datetime.now() - started).seconds:,} s")
    print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
