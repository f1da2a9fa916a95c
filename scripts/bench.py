"""`make bench`: how fast the store answers, as a ratio of the cheapest answer its own
stack gives, on SQLite and then on PostgreSQL, with 10,000 and then 100,000 films.

For each database the script builds a fresh store (SQLite in a temporary folder;
PostgreSQL in a database of its own, created and dropped here), migrates, loads
10,000 demo films, makes 3,000 buyers with API tokens and some 190 owners of 30 films
each, bought through the purchase service, to cancel (`scripts.seed`), starts gunicorn
on 127.0.0.1 and runs wrk against one endpoint class at a time: a 2 s warm-up, then
three runs of 3 s, of which the median counts (single runs vary by some 20 % on this
machine).

| endpoint class | requests |
|---|---|
| healthz (floor) | `GET /healthz`: no database, no cache; the cheapest answer |
| catalog list | `GET /api/vods/` first pages, each genre, three orderings (18 URLs, cached) |
| catalog list, first view | list pages nobody asked for yet (page x genre x order) |
| catalog search | `GET /api/vods/?search=<word>`, 400 title words (searches are not cached) |
| film detail | `GET /api/vods/<id>/` over the 1,000 most viewed films (cached) |
| film detail, first view | films nobody looked at yet (every request a cache miss) |
| card purchase | `POST /api/purchases/`, each request a new (user, film) pair: all 201 |
| cancel | `POST /api/purchases/<id>/cancel/`, each request another paid purchase: all 200 |
| page: catalog | `GET /` as a visitor (no session): the storefront's first page |
| page: catalog, deep | `GET /?page=100` to `400` |
| page: genre | `GET /?genre=<g>&page=1..5`, each genre |
| page: search | `GET /?q=<word>`, the 400 title words |
| page: film | `GET /films/<id>/` over the 1,000 most viewed films |
| page: ..., signed in | the same pages as one of 100 signed-in buyers (each owning 8 films) |
| page: library / purchases, signed in | `GET /library/`, `GET /purchases/` of those buyers |

A signed-in buyer sends its session and CSRF cookies, and gets its own header, balance,
owned marks and buy box. The storefront's classes ask each of their distinct addresses
once before the warm-up (the pages people use are kept; a first view is what the
first-view classes measure).

"First view": the catalog cache is forgotten before each run, so within a run every
request is a miss unless the run outlasts its distinct URLs (the output then says how
many requests repeated one).

Then it adds films up to 100,000 and runs the catalog classes again. It prints one
table per database and the comparison, and writes them to reports/bench.md.

The simulated gateway answers at once (latency 0): this measures the store, not a
sleep. Redis is the cache when it answers (as in production), else each worker has
its own local-memory cache, which the output says. The load generator is wrk (C,
`apt-get install wrk`); each table gives its CPU beside the server's, to show it is
not the bottleneck. Loopback only; about 16 minutes a database. Knobs: BENCH_SECONDS,
BENCH_WARMUP, BENCH_CONNECTIONS, BENCH_WORKERS, BENCH_THREADS, BENCH_DATABASES,
BENCH_FILMS, BENCH_BIG_FILMS (0 skips), BENCH_ONLY (endpoint classes, separated by ";"),
BENCH_PG_URL, BENCH_REDIS_URL, BENCH_PORT.

`python -m scripts.bench media` (the second half of `make bench`, about a minute) measures
watching, on SQLite with one owner of one film whose feature is a BENCH_MEDIA_MIB file
(256 MiB of random bytes, in the page cache after the first pass, so the disk is not
what is measured): the Watch page, which signs a new URL each time, and 1 MiB Range
requests for the feature at random offsets, each checked (owner, purchase, film,
media) by Django, then sent either by Django itself (MEDIA_DELIVERY=django) or by a
private nginx running deploy/nginx/vodstore.conf (MEDIA_DELIVERY=accel,
X-Accel-Redirect; scripts/nginx.py). Same wrk, warm-up and median of three runs as
above; it writes reports/bench-media.md.
"""

import contextlib
import json
import math
import os
import random
import resource
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

from scripts.nginx import PrivateNginx, nginx_binary
from scripts.runner import (
    in_store,
    manage,
    redis_up,
    report_write,
    serving,
    store_env,
    store_open,
)

PORT = int(os.environ.get("BENCH_PORT", "8766"))
SECONDS = int(os.environ.get("BENCH_SECONDS", "3"))  # per run; the median of RUNS counts
RUNS = 3
WARMUP = int(os.environ.get("BENCH_WARMUP", "2"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "64"))
# Two cores: one gunicorn worker more than cores (a worker waiting on PostgreSQL or
# Redis leaves its core to another), each with 4 threads so that a request waiting on
# the database does not idle its worker. Fewer threads than the payment guard's
# bulkhead (10 gateway calls per process), so the bulkhead never refuses here.
WORKERS = int(os.environ.get("BENCH_WORKERS", "3"))
THREADS = int(os.environ.get("BENCH_THREADS", "4"))
GUNICORN = [
    *("--workers", str(WORKERS), "--worker-class", "gthread", "--threads", str(THREADS)),
    # gthread workers accept greedily: one may take most of wrk's keep-alive connections
    # and leave the others idle. A cap per worker spreads them.
    *("--worker-connections", str(-(-CONNECTIONS // WORKERS) + 3)),
    *("--backlog", "2048", "--timeout", "60"),
]
WRK_THREADS = 2
DATABASES = os.environ.get("BENCH_DATABASES", "sqlite,postgres").split(",")
FILMS = int(os.environ.get("BENCH_FILMS", "10000"))
BIG_FILMS = int(os.environ.get("BENCH_BIG_FILMS", "100000"))
BUYERS = 3000
# Each cancel needs a paid purchase of its own, bought beforehand through the purchase
# service (payment, points, events: 20 to 50 a second on this machine, so the 30,000 of
# old would take 10 to 25 minutes per database). Enough for twice the fastest cancelling
# measured (100 to 250 a second), as the cancel class shares them out (a fifth for the
# warm-up, the rest evenly between the runs), so that no cancel repeats: with the
# default 2 s warm-up and 3 runs of 3 s, 188 cancellers of 30 films, 5,640 purchases.
CANCELS_PER_SECOND = 250
PURCHASES_PER_CANCELLER = 30
CANCELLERS = math.ceil(
    2 * CANCELS_PER_SECOND * max(5 * WARMUP, 5 / 4 * RUNS * SECONDS) / PURCHASES_PER_CANCELLER
)
POPULAR_FILMS = 1000
PG_URL = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/vodstore_bench")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")

FLOOR = "healthz (floor)"
LIST, LIST_MISS = "catalog list", "catalog list, first view"
SEARCH = "catalog search"
DETAIL, DETAIL_MISS = "film detail", "film detail, first view"
PURCHASE, CANCEL = "card purchase", "cancel"
CATALOG = [LIST, LIST_MISS, SEARCH, DETAIL, DETAIL_MISS]
# The storefront's pages as people use them: a visitor, then a signed-in buyer (whose
# pages carry a header, a balance, owned marks and a buy box of their own).
PAGE_LIST, PAGE_DEEP, PAGE_GENRE = "page: catalog", "page: catalog, deep", "page: genre"
PAGE_SEARCH, PAGE_FILM = "page: search", "page: film"
SIGNED_IN = ", signed in"
PAGE_LIBRARY, PAGE_PURCHASES = "page: library, signed in", "page: purchases, signed in"
VISITOR_PAGES = [PAGE_LIST, PAGE_DEEP, PAGE_GENRE, PAGE_SEARCH, PAGE_FILM]
STOREFRONT = [
    *VISITOR_PAGES,
    *(name + SIGNED_IN for name in VISITOR_PAGES),
    PAGE_LIBRARY,
    PAGE_PURCHASES,
]
# The targets, as ratios to the floor (PostgreSQL): at least these.
TARGETS = {
    **dict.fromkeys(VISITOR_PAGES, 0.5),
    **{name + SIGNED_IN: 0.3 for name in VISITOR_PAGES},
    PAGE_LIBRARY: 0.2,
    PAGE_PURCHASES: 0.2,
}
READERS, READER_FILMS = 100, 8  # signed-in buyers browsing, and the films each owns
ENDPOINTS = [FLOOR, *CATALOG, *STOREFRONT, PURCHASE, CANCEL]
# BENCH_ONLY="catalog list;card purchase" runs just those classes (and the floor); ";"
# because class names have commas.
ONLY = [name.strip() for name in os.environ.get("BENCH_ONLY", "").split(";") if name.strip()]
if unknown := set(ONLY) - set(ENDPOINTS):
    raise SystemExit(f"BENCH_ONLY: no endpoint class {', '.join(sorted(unknown))}")
if ONLY:
    ENDPOINTS = [name for name in ENDPOINTS if name == FLOOR or name in ONLY]
    CATALOG = [name for name in CATALOG if name in ONLY]
    STOREFRONT = [name for name in STOREFRONT if name in ONLY]
# Classes whose requests must never repeat (they change the store): the warm-up takes
# the first fifth of them, each run a share of the rest.
ONCE_ONLY = {PURCHASE, CANCEL}
# Classes that must miss the catalog cache: it is forgotten before the warm-up and before
# each run (as a change to a film would), so each run starts from an empty cache.
FIRST_VIEW = {LIST_MISS, DETAIL_MISS}
GENRES = ["action", "animation", "comedy", "documentary", "drama", "fantasy", "horror"]
GENRES += ["romance", "sci-fi", "thriller"]
# `bench.py media`: watching. Classes, the feature's size, and nginx's port.
WATCH = "signed-URL issue (the Watch page)"
RANGES = "1 MiB range requests"
MEDIA_ENDPOINTS = [FLOOR, WATCH, RANGES]
MIB = 1024 * 1024
MEDIA_MIB = int(os.environ.get("BENCH_MEDIA_MIB", "256"))
NGINX_PORT = PORT + 1


# --- wrk's script ------------------------------------------------------------------------
# A line of the requests file is "GET <path>", "GET <path> <cookie> <range>" (the media
# classes: a session cookie, and a Range or "-") or "POST <path> <token> <json body>".
# wrk passes: the file, the thread count, the first line and the number of lines of
# this run. Thread t sends lines t, t + threads, t + 2 threads... so no two requests
# of a run share a line; `done` prints one JSON line with the figures.
LUA = r"""
local threads, next_id = {}, 0
function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

local reqs, k, stride, cache = {}, 0, 1, {}
function init(args)
  local first, count, i = tonumber(args[3]), tonumber(args[4]), 0
  for line in io.lines(args[1]) do
    if i >= first and i < first + count then reqs[#reqs + 1] = line end
    i = i + 1
  end
  stride = tonumber(args[2])
  k = id
end

function request()
  local line = reqs[(k % #reqs) + 1]
  k = k + stride
  local hit = cache[line]
  if hit then return hit end
  local method, path, token, body = line:match("^(%S+) (%S+) ?(%S*) ?(.*)$")
  if method == "GET" then
    local headers = {}
    if token ~= "" then headers["Cookie"] = token end
    if body ~= "" and body ~= "-" then headers["Range"] = body end
    cache[line] = wrk.format("GET", path, headers)  -- GET lines may repeat; POST never do
    return cache[line]
  end
  return wrk.format("POST", path, {
    ["Authorization"] = "Token " .. token, ["Content-Type"] = "application/json",
  }, body)
end

statuses = {}
function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local sums, codes = {}, {}
  for _, t in ipairs(threads) do
    for code, n in pairs(t:get("statuses")) do sums[code] = (sums[code] or 0) + n end
  end
  for code, n in pairs(sums) do codes[#codes + 1] = string.format('"%d": %d', code, n) end
  local e = summary.errors
  io.write(string.format(
    'BENCH-JSON {"requests": %d, "bytes": %d, "duration_us": %d, "p50": %d, "p95": %d, '
    .. '"p99": %d, "socket_errors": %d, "codes": {%s}}\n',
    summary.requests, summary.bytes, summary.duration,
    latency:percentile(50), latency:percentile(95), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout, table.concat(codes, ", ")))
end
"""


# --- CPU accounting -------------------------------------------------------------------------
TICKS = os.sysconf("SC_CLK_TCK")


def _proc_cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _processes(name: str, cmdline_has: tuple[str, ...] = ()) -> dict[int, float]:
    """CPU seconds of every process called `name` (whose command line has one of
    `cmdline_has`, if given), by pid."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() != name:
                    continue
                cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if not cmdline_has or any(part in cmdline for part in cmdline_has):
                found[int(entry.name)] = _proc_cpu(int(entry.name))
    return found


def _machine_busy() -> float:
    """Busy seconds of all cores together since boot (all but idle and iowait)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(values[:8]) - values[3] - values[4]) / TICKS


def wait_until_quiet(limit: float = 20, threshold: float = 0.25) -> None:
    """Wait (at most `limit` s) until the machine is nearly idle: the store finished the
    previous class's last requests, and other programs give the cores back."""
    deadline = time.time() + limit
    while time.time() < deadline:
        before = _machine_busy()
        time.sleep(0.5)
        if (_machine_busy() - before) / 0.5 < threshold:
            return


class CpuMeter:
    """CPU seconds used by gunicorn, PostgreSQL, Redis, wrk and the whole machine.

    PostgreSQL's figure counts the backends of the benchmark's database and the
    server's WAL writer, checkpointer and background writer (they serve everyone);
    "other" is what the machine spent on anything else (other users of the machine)."""

    def __init__(self, server_pid: int, database: str, nginx_pid: int | None = None) -> None:
        self.server_pid = server_pid
        self.database = database
        self.nginx_pid = nginx_pid

    def sample(self) -> dict:
        children = resource.getrusage(resource.RUSAGE_CHILDREN)  # wrk, once it exited
        nginx = [self.nginx_pid, *_children(self.nginx_pid)] if self.nginx_pid else []
        return {
            "app": {p: _proc_cpu(p) for p in [self.server_pid, *_children(self.server_pid)]},
            "nginx": {p: _proc_cpu(p) for p in nginx},
            "db": _processes(
                "postgres", (f" {self.database} ", "walwriter", "checkpointer", "writer")
            )
            if self.database
            else {},
            "redis": _processes("redis-server"),
            "wrk": children.ru_utime + children.ru_stime,
            "machine": _machine_busy(),
        }

    def used(self, before: dict, after: dict) -> dict[str, float]:
        """Seconds used between two samples (processes that ended in between are lost)."""
        used = {}
        for key in ("app", "nginx", "db", "redis"):
            used[key] = sum(cpu - before[key].get(p, 0) for p, cpu in after[key].items())
        for key in ("wrk", "machine"):
            used[key] = after[key] - before[key]
        return used


# --- the store -----------------------------------------------------------------------------
def pg_admin(sql: str) -> None:
    import psycopg

    admin = urlunsplit(urlsplit(PG_URL)._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql)


def forget_cache(prefix: str) -> None:
    """Delete this run's keys (catalog answers, guard state, rate limits) from Redis."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(match=f"{prefix}:*", count=1000):
        client.delete(key)


# --- load ---------------------------------------------------------------------------------------
@dataclass
class Result:
    rps: float
    p50: float
    p95: float
    p99: float
    requests: int
    failures: int
    codes: dict[str, int]
    repeated: int  # requests beyond the distinct lines of a once-only class
    cpu: dict[str, float] = field(default_factory=dict)
    bytes_per_s: float = 0.0  # response bytes (headers included) read per second


def request_lines(name: str, data: dict, rng: random.Random) -> list[str]:
    """The requests of one endpoint class (the warm-up's and the measured run's)."""
    films = data.get("films", [])
    if name == FLOOR:
        return ["GET /healthz"]
    if name == LIST:
        paths = ["/api/vods/"] + [f"/api/vods/?page={p}" for p in range(2, 6)]
        paths += [f"/api/vods/?genre={g}" for g in GENRES]
        paths += [f"/api/vods/?ordering={o}" for o in ("price", "-price", "-release_year")]
        return [f"GET {p}" for p in paths]
    if name == LIST_MISS:
        # Pages of about 20 films (the default) that nobody asked for since the films
        # were loaded, in every genre and order. Every genre has over 440 of the 10,000
        # films, so all these pages exist.
        orders = ["", "price", "-price", "release_year", "-release_year", "title", "-title"]
        orders += ["runtime_minutes", "-runtime_minutes", "created_at"]
        paths = [
            f"/api/vods/?page_size={size}&page={page}{genre}"
            + (f"&ordering={order}" if order else "")
            for size in (18, 19, 20, 21, 22)
            for page in range(1, 21)
            for genre in ["", *(f"&genre={g}" for g in GENRES)]
            for order in orders
        ]
        rng.shuffle(paths)
        return [f"GET {p}" for p in paths]
    if name == SEARCH:
        words = data["search_words"][:]
        rng.shuffle(words)
        return [f"GET /api/vods/?search={quote(w)}" for w in words]
    if name == DETAIL:
        return [f"GET /api/vods/{i}/" for i in data["popular"]]
    if name == DETAIL_MISS:
        popular = set(data["popular"])
        unseen = [i for i in films if i not in popular]
        rng.shuffle(unseen)
        return [f"GET /api/vods/{i}/" for i in unseen]
    if name == PURCHASE:
        # Pair k: buyer k mod B buys film k div B; no pair repeats, and no buyer comes
        # near the per-user purchase rate (30 a minute).
        buyers = data["buyers"]
        return [
            f"POST /api/purchases/ {buyers[k % len(buyers)]} "
            f'{{"vod":{films[k // len(buyers)]},"payment_method":"card"}}'
            for k in range(min(len(buyers) * len(films), 100_000))
        ]
    if name == CANCEL:
        cancels = data["cancels"][:]
        rng.shuffle(cancels)
        return [f"POST /api/purchases/{pid}/cancel/ {token} {{}}" for token, pid in cancels]
    if name.startswith("page: "):
        return storefront_lines(name, data, rng)
    if name == WATCH:  # the owner's Watch page: a new signed URL each time
        return [f"GET /films/{data['film']}/watch/ {data['cookie']} -"]
    if name == RANGES:  # 1 MiB at a random MiB of the feature, as a player seeking
        offsets = [rng.randrange(data["size"] // MIB) * MIB for _ in range(4096)]
        return [
            f"GET {data['video']} {data['cookie']} bytes={first}-{first + MIB - 1}"
            for first in offsets
        ]
    raise ValueError(name)


def storefront_lines(name: str, data: dict, rng: random.Random) -> list[str]:
    """A storefront class's requests: a visitor's, or a signed-in reader's (one of
    READERS browsers, each sending its session and CSRF cookies)."""
    signed_in = name.endswith(", signed in")
    page = name.removesuffix(", signed in")
    if page == "page: catalog":
        paths = ["/"]
    elif page == "page: catalog, deep":  # pages 100 to 400 of the newest-first list
        paths = [f"/?page={n}" for n in range(100, 401)]
    elif page == "page: genre":
        paths = [
            f"/?genre={g}" + (f"&page={n}" if n > 1 else "")
            for g in GENRES
            for n in (1, 2, 3, 4, 5)
        ]
    elif page == "page: search":
        paths = [f"/?q={quote(w)}" for w in data["search_words"]]
    elif page == "page: film":
        paths = [f"/films/{i}/" for i in data["popular"]]
    elif page == "page: library":
        paths = ["/library/"]
    elif page == "page: purchases":
        paths = ["/purchases/"]
    else:
        raise ValueError(name)
    if not signed_in:
        lines = [f"GET {p}" for p in paths]
    else:  # every reader over the class's addresses, readers interleaved
        cookies = data["readers"]
        lines = [
            f"GET {p} {cookies[k % len(cookies)]} -"
            for k, p in enumerate(paths * max(1, -(-len(cookies) // len(paths))))
        ]
    rng.shuffle(lines)
    return lines


def prime(lines: list[str], url: str) -> None:
    """Ask each distinct request of a storefront class once before its warm-up: the pages
    people use are kept, and a class measures them kept (as "catalog list" does the
    API's); what a first view costs is the first-view classes' subject."""

    def fetch(line: str) -> None:
        _, path, *rest = line.split(" ")
        headers = {"Cookie": rest[0]} if rest and rest[0] else {}
        request = urllib.request.Request(url + path, headers=headers)  # noqa: S310
        with contextlib.suppress(OSError), urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 - 127.0.0.1 only
            answer.read()

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(fetch, dict.fromkeys(lines)))


def run_wrk(
    lines_file: Path,
    script: Path,
    first: int,
    count: int,
    seconds: int,
    meter: CpuMeter,
    url: str = f"http://127.0.0.1:{PORT}",
) -> Result:
    before = meter.sample()
    out = subprocess.run(  # noqa: S603
        [
            shutil.which("wrk") or "wrk",
            *("-t", str(WRK_THREADS), "-c", str(CONNECTIONS), "-d", f"{seconds}s"),
            *("--timeout", "10s", "-s", str(script), url),
            *("--", str(lines_file), str(WRK_THREADS), str(first), str(count)),
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=seconds + 60,
    ).stdout
    after = meter.sample()
    used = meter.used(before, after)
    line = next(x for x in out.splitlines() if x.startswith("BENCH-JSON "))
    stats = json.loads(line.removeprefix("BENCH-JSON "))
    wall = stats["duration_us"] / 1e6
    # percent of one core (wrk's start and stop fall inside the window)
    cpu = {k: 100 * seconds / wall for k, seconds in used.items()}
    cpu["other"] = max(
        0.0, cpu["machine"] - cpu["app"] - cpu["nginx"] - cpu["db"] - cpu["redis"] - cpu["wrk"]
    )
    codes = stats["codes"]
    ok = sum(n for code, n in codes.items() if code.startswith("2"))
    return Result(
        rps=stats["requests"] / wall,
        p50=stats["p50"] / 1000,
        p95=stats["p95"] / 1000,
        p99=stats["p99"] / 1000,
        requests=stats["requests"],
        failures=stats["socket_errors"] + stats["requests"] - ok,
        codes=codes,
        repeated=max(0, stats["requests"] - count),
        cpu=cpu,
        bytes_per_s=stats["bytes"] / wall,
    )


def bench_endpoints(
    names: list[str],
    data: dict,
    work: Path,
    env: dict,
    server: subprocess.Popen,
    database: str,
    *,
    url: str = f"http://127.0.0.1:{PORT}",
    nginx_pid: int | None = None,
) -> dict:
    rng = random.Random(20_250_601)  # noqa: S311 - a reproducible shuffle, not a secret
    script = work / "bench.lua"
    script.write_text(LUA)
    meter = CpuMeter(server.pid, database, nginx_pid)
    results = {}
    for name in names:
        lines = request_lines(name, data, rng)
        lines_file = work / "requests.txt"
        lines_file.write_text("\n".join(lines) + "\n")
        n = len(lines)
        if name in ONCE_ONLY:  # the warm-up has the first fifth, each run a share of the rest
            share = (n - n // 5) // RUNS
            warmup, runs = (0, n // 5), [(n // 5 + i * share, share) for i in range(RUNS)]
        else:  # the warm-up fills the cache the runs read (first view: forgotten again)
            warmup, runs = (0, n), [(0, n)] * RUNS
        wait_until_quiet()
        if name in FIRST_VIEW:
            in_store(env, "seed.catalog_forget")
        if name in STOREFRONT:
            prime(lines, url)
        run_wrk(lines_file, script, *warmup, WARMUP, meter, url)
        measured = []
        for lines_range in runs:
            if name in FIRST_VIEW:
                in_store(env, "seed.catalog_forget")
            measured.append(run_wrk(lines_file, script, *lines_range, SECONDS, meter, url))
        measured.sort(key=lambda r: r.rps)
        # The median run's figures, every run's failures.
        result = results[name] = measured[len(measured) // 2]
        result.requests = sum(r.requests for r in measured)
        result.failures = sum(r.failures for r in measured)
        result.repeated = sum(r.repeated for r in measured)
        once = ONCE_ONLY | FIRST_VIEW
        note = f", {result.repeated} repeated" if name in once and result.repeated else ""
        if nginx_pid or result.bytes_per_s > MIB * 10:
            note += (
                f"  {result.bytes_per_s / MIB:,.0f} MiB/s  nginx CPU {result.cpu['nginx']:.0f} %"
            )
        print(
            f"  {name:25} {result.rps:7.0f} req/s  p50 {result.p50:6.1f} ms  "
            f"p99 {result.p99:6.1f} ms  failures {result.failures}{note}  "
            f"CPU % wrk {result.cpu['wrk']:.0f} app {result.cpu['app']:.0f} "
            f"db {result.cpu['db']:.0f} redis {result.cpu['redis']:.0f} "
            f"other {result.cpu['other']:.0f}  {result.codes}",
            flush=True,
        )
    return results


# --- the run ------------------------------------------------------------------------------------
@dataclass
class DatabaseRun:
    name: str
    results: dict[str, Result]
    big: dict[str, Result]


def bench_database(database: str, shared_cache: bool) -> DatabaseRun:
    work = Path(tempfile.mkdtemp(prefix=f"vod-bench-{database}-"))
    settings = {"PAYMENT_SIMULATED_LATENCY_MS": "0"}
    if shared_cache:
        settings["CACHE_URL"] = REDIS_URL
        settings["CACHE_KEY_PREFIX"] = f"bench-{secrets.token_hex(4)}"
    name = urlsplit(PG_URL).path.lstrip("/")
    db_name = name if database == "postgres" else ""
    if database == "postgres":
        settings["DATABASE_URL"] = PG_URL
        pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        pg_admin(f'CREATE DATABASE "{name}"')
    else:
        settings["DATABASE_URL"] = f"sqlite:///{work / 'bench.sqlite3'}"
    env = store_env(work, **settings)
    try:
        print(f"\n{database}: {FILMS:,} films, {BUYERS + CANCELLERS + READERS:,} users", flush=True)
        store_open(env, films=FILMS)
        # (the classes left out by BENCH_ONLY need no accounts)
        buyers = in_store(
            env, "seed.buyers", prefix="bench-buyer", count=BUYERS if PURCHASE in ENDPOINTS else 0
        )
        owners = in_store(
            env,
            "seed.owners",
            prefix="bench-canceller",
            count=CANCELLERS if CANCEL in ENDPOINTS else 0,
            films_each=PURCHASES_PER_CANCELLER,
        )
        readers = in_store(
            env,
            "seed.owners",
            prefix="bench-reader",
            count=READERS if any(n.endswith("signed in") for n in STOREFRONT) else 0,
            films_each=READER_FILMS,
            signed_in=True,
        )
        data = {
            "buyers": buyers["tokens"],
            "films": buyers["films"],
            "cancels": owners["purchases"],
            "readers": readers["cookies"],
            "search_words": in_store(env, "seed.search_words"),
        }
        data["popular"] = random.Random(7).sample(data["films"], POPULAR_FILMS)  # noqa: S311
        in_store(env, "seed.analyze")
        with serving(env, PORT, GUNICORN) as server:
            results = bench_endpoints(ENDPOINTS, data, work, env, server, db_name)
        big: dict[str, Result] = {}
        if BIG_FILMS > FILMS:
            print(f"{database}: {BIG_FILMS:,} films", flush=True)
            manage(env, "load_demo_catalog", "--count", str(BIG_FILMS), timeout=3600)
            data["films"] = in_store(env, "seed.film_ids")
            in_store(env, "seed.analyze")
            with serving(env, PORT, GUNICORN) as server:
                big = bench_endpoints(
                    [FLOOR, *CATALOG, *STOREFRONT], data, work, env, server, db_name
                )
    finally:
        if database == "postgres":
            pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if shared_cache:
            forget_cache(settings["CACHE_KEY_PREFIX"])
        shutil.rmtree(work, ignore_errors=True)
    return DatabaseRun(database, results, big)


# --- the tables -----------------------------------------------------------------------------------
DISTURBED = 15  # percent of a core used by other programs during a run


def disturbed(result: Result) -> str:
    return " *" if result.cpu["other"] > DISTURBED else ""


def table(run: DatabaseRun) -> str:
    floor = run.results[FLOOR].rps
    rows = [
        "| endpoint | req/s | p50 ms | p95 ms | p99 ms | failures | ratio to floor "
        "| CPU % wrk / app / db / redis / other |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name in [n for n in ENDPOINTS if n not in STOREFRONT]:
        r = run.results[name]
        once = ONCE_ONLY | FIRST_VIEW
        repeated = f" ({r.repeated} repeated)" if name in once and r.repeated else ""
        rows.append(
            f"| {name}{disturbed(r)} | {r.rps:,.0f} | {r.p50:.1f} | {r.p95:.1f} | {r.p99:.1f} "
            f"| {r.failures} of {r.requests:,}{repeated} | {r.rps / floor:.2f} "
            f"| {r.cpu['wrk']:.0f} / {r.cpu['app']:.0f} / {r.cpu['db']:.0f} "
            f"/ {r.cpu['redis']:.0f} / {r.cpu['other']:.0f} |"
        )
    return "\n".join(rows)


def big_table(run: DatabaseRun) -> str:
    small_floor, big_floor = run.results[FLOOR].rps, run.big[FLOOR].rps
    rows = [
        f"| endpoint | req/s, {FILMS:,} films | req/s, {BIG_FILMS:,} films "
        f"| ratio to floor, {FILMS:,} | ratio to floor, {BIG_FILMS:,} | slowdown "
        f"| p99 ms, {FILMS:,} | p99 ms, {BIG_FILMS:,} |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in [FLOOR, *CATALOG]:
        small, big = run.results[name], run.big[name]
        small_ratio, big_ratio = small.rps / small_floor, big.rps / big_floor
        rows.append(
            f"| {name}{disturbed(small) or disturbed(big)} | {small.rps:,.0f} | {big.rps:,.0f} "
            f"| {small_ratio:.2f} "
            f"| {big_ratio:.2f} | {small_ratio / big_ratio:.2f}x "
            f"| {small.p99:.1f} | {big.p99:.1f} |"
        )
    return "\n".join(rows)


def storefront_table(run: DatabaseRun) -> str:
    """The storefront's pages: ratios to the floor at both catalog sizes, against the
    targets (a ratio of at least the target, and 100,000 films within 1.5x of 10,000)."""
    small_floor = run.results[FLOOR].rps
    big_floor = run.big[FLOOR].rps if run.big else None
    rows = [
        f"| page | req/s | p50 ms | p99 ms | failures | ratio, {FILMS:,} films "
        f"| ratio, {BIG_FILMS:,} films | slowdown | target | met |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name in STOREFRONT:
        r = run.results[name]
        ratio = r.rps / small_floor
        met = ratio >= TARGETS[name] and r.failures == 0
        big_ratio = slowdown = "-"
        if big_floor and name in run.big:
            big = run.big[name]
            big_ratio_value = big.rps / big_floor
            big_ratio, slowdown = f"{big_ratio_value:.2f}", f"{ratio / big_ratio_value:.2f}x"
            met = met and big_ratio_value >= TARGETS[name] and big.failures == 0
            met = met and ratio / big_ratio_value <= 1.5
        rows.append(
            f"| {name}{disturbed(r)} | {r.rps:,.0f} | {r.p50:.1f} | {r.p99:.1f} "
            f"| {r.failures} of {r.requests:,} | {ratio:.2f} | {big_ratio} | {slowdown} "
            f"| ≥ {TARGETS[name]} | {'yes' if met else 'NO'} |"
        )
    return "\n".join(rows)


# --- watching (`bench.py media`) -----------------------------------------------------------
MEDIA_PATHS = {
    "django": "Django (`MEDIA_DELIVERY=django`)",
    "accel": "nginx X-Accel-Redirect (`MEDIA_DELIVERY=accel`)",
}


def media_table(results: dict[str, dict[str, Result]]) -> str:
    rows = [
        "| bytes sent by | endpoint | req/s | MiB/s | p50 ms | p95 ms | p99 ms | failures "
        "| CPU % wrk / gunicorn / nginx / other |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for path, by_name in results.items():
        for name in MEDIA_ENDPOINTS:
            r = by_name[name]
            rows.append(
                f"| {MEDIA_PATHS[path]} | {name}{disturbed(r)} | {r.rps:,.0f} "
                f"| {r.bytes_per_s / MIB:,.1f} | {r.p50:.1f} | {r.p95:.1f} | {r.p99:.1f} "
                f"| {r.failures} of {r.requests:,} | {r.cpu['wrk']:.0f} / {r.cpu['app']:.0f} "
                f"/ {r.cpu['nginx']:.0f} / {r.cpu['other']:.0f} |"
            )
    return "\n".join(rows)


def main_media() -> int:
    """Watching: the Watch page and 1 MiB Range requests, the bytes sent by Django and
    then by nginx (X-Accel-Redirect), on SQLite; writes reports/bench-media.md."""
    if nginx_binary() is None:
        print("bench.py media needs nginx: apt-get install nginx")
        return 2
    started = datetime.now()
    work = Path(tempfile.mkdtemp(prefix="vod-bench-media-"))
    media = work / "media"
    env = store_env(
        work,
        PAYMENT_SIMULATED_LATENCY_MS="0",
        DATABASE_URL=f"sqlite:///{work / 'bench.sqlite3'}",
        MEDIA_STORAGE="filesystem",
        MEDIA_ROOT=str(media),
        MEDIA_URL_TTL_SECONDS="3600",  # one URL serves the whole run
    )
    print(
        f"bench media: a {MEDIA_MIB} MiB feature; gunicorn {WORKERS} gthread workers x "
        f"{THREADS} threads on 127.0.0.1:{PORT}, nginx ({os.cpu_count()} workers) on "
        f"127.0.0.1:{NGINX_PORT}; wrk {WRK_THREADS} threads, {CONNECTIONS} connections",
        flush=True,
    )
    results: dict[str, dict[str, Result]] = {}
    try:
        store_open(env)
        data = in_store(env, "seed.watching", mib=MEDIA_MIB)
        print(MEDIA_PATHS["django"], flush=True)
        django_env = {**env, "MEDIA_DELIVERY": "django"}
        with serving(django_env, PORT, GUNICORN) as server:
            results["django"] = bench_endpoints(MEDIA_ENDPOINTS, data, work, django_env, server, "")
        print(MEDIA_PATHS["accel"], flush=True)
        accel_env = {**env, "MEDIA_DELIVERY": "accel"}
        with (
            serving(accel_env, PORT, GUNICORN) as server,
            PrivateNginx(
                upstream=f"127.0.0.1:{PORT}",
                media_root=media,
                static_root=work / "static",
                port=NGINX_PORT,
                workers=os.cpu_count() or 1,
            ) as nginx,
        ):
            assert nginx.process is not None
            results["accel"] = bench_endpoints(
                MEDIA_ENDPOINTS,
                data,
                work,
                accel_env,
                server,
                "",
                url=nginx.url,
                nginx_pid=nginx.process.pid,
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    django_rps, nginx_rps = results["django"][RANGES].rps, results["accel"][RANGES].rps
    every = [r for by_name in results.values() for r in by_name.values()]
    out = [
        f"# Benchmark of watching, {started:%Y-%m-%d %H:%M}, this machine ({os.cpu_count()} cores)",
        "",
        f"SQLite; one owner of one film whose feature is {MEDIA_MIB} MiB of random bytes (in "
        "the page cache: the disk is not measured). gunicorn "
        f"{WORKERS} gthread workers x {THREADS} threads; nginx running "
        "deploy/nginx/vodstore.conf; wrk "
        f"{WRK_THREADS} threads, {CONNECTIONS} connections, a {WARMUP} s warm-up then the "
        f"median of {RUNS} runs of {SECONDS} s per endpoint; loopback only; DEBUG off.",
        f"{WATCH}: `GET /films/<id>/watch/` as the owner (the page signs a new URL). "
        f"{RANGES}: `GET /films/<id>/watch/video/?token=...` with `Range: bytes=a-b` of "
        "1 MiB at a random MiB of the file; every one is checked by Django (token, "
        "session, paid purchase, film on sale, its media); the bytes are then sent by "
        "Django itself or by nginx. MiB/s counts response bytes, headers included. Through "
        "nginx every request (healthz and the Watch page too) goes through its proxy.",
        f"wrk used at most {max(r.cpu['wrk'] for r in every):.0f} % of one core.",
        "",
        media_table(results),
        "",
        f"1 MiB ranges: nginx {nginx_rps:,.0f} req/s against Django's {django_rps:,.0f} "
        f"({nginx_rps / django_rps:.1f}x).",
    ]
    text = "\n".join(out) + "\n"
    print("\n" + text)
    written = report_write("bench-media", text)
    print(f"written to {written} in {(datetime.now() - started).seconds} s")
    return 0


def main() -> int:
    if shutil.which("wrk") is None:
        print("make bench needs wrk, a lean HTTP load generator: apt-get install wrk")
        return 2
    if sys.argv[1:] == ["media"]:
        return main_media()
    shared_cache = redis_up(REDIS_URL)
    cache = "Redis" if shared_cache else "local memory in each worker (Redis did not answer)"
    started = datetime.now()
    print(
        f"bench: gunicorn {WORKERS} gthread workers x {THREADS} threads on 127.0.0.1:{PORT}; "
        f"wrk {WRK_THREADS} threads, {CONNECTIONS} connections, {WARMUP} s warm-up + "
        f"the median of {RUNS} runs of {SECONDS} s per endpoint class; simulated gateway "
        f"latency 0; cache: {cache}",
        flush=True,
    )
    runs = [bench_database(db, shared_cache) for db in DATABASES]
    every = [r for run in runs for r in [*run.results.values(), *run.big.values()]]
    out = [
        f"# Benchmark, {started:%Y-%m-%d %H:%M}, this machine ({os.cpu_count()} cores)",
        "",
        f"gunicorn {WORKERS} gthread workers x {THREADS} threads (at most "
        f"{-(-CONNECTIONS // WORKERS) + 3} connections each); wrk {WRK_THREADS} threads, "
        f"{CONNECTIONS} connections; per endpoint class a {WARMUP} s warm-up, then the median "
        f"of {RUNS} runs of {SECONDS} s (failures: of all runs' requests); simulated "
        f"gateway latency 0; DEBUG off; cache: {cache}.",
        "Ratio: the class's requests per second over GET /healthz's in the same run. CPU: "
        "percent of one core used during the run by wrk, gunicorn (all workers), the "
        "benchmark's PostgreSQL backends, Redis, and other programs on the machine; a run "
        f"marked * shared the machine with other programs (over {DISTURBED} % of a core), "
        "so its figures are less reliable.",
        f"The generator is not the bottleneck: wrk used at most "
        f"{max(r.cpu['wrk'] for r in every):.0f} % of one core in any run, while the server "
        f"side kept the {os.cpu_count()} cores busy (gunicorn alone up to "
        f"{max(r.cpu['app'] for r in every):.0f} %).",
    ]
    for run in runs:
        out += ["", f"## {run.name}, {FILMS:,} films", "", table(run)]
    for run in runs:
        if STOREFRONT:
            out += ["", f"## {run.name}: the storefront's pages", "", storefront_table(run)]
    for run in runs:
        if run.big:
            out += ["", f"## {run.name}: the catalog at {BIG_FILMS:,} films", "", big_table(run)]
            out += ["", "Slowdown: ratio to the floor at 10,000 films over the one at 100,000."]
    text = "\n".join(out) + "\n"
    print("\n" + text)
    written = report_write("bench", text)
    print(f"written to {written} in {(datetime.now() - started).seconds} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
