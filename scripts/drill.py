"""`make drill`: the original team's load test, redone against this store.

Starts gunicorn on 127.0.0.1 with the simulated gateway at 600-900 ms, runs 100
concurrent buyers for 60 s with locust (headless), prints our figures beside the
original's, then checks the books. Traffic goes to 127.0.0.1 only; the run is bounded.
"""

import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from datetime import date
from pathlib import Path

from scripts.runner import (
    BIN,
    ROOT,
    in_store,
    manage,
    redis_up,
    report_write,
    serving,
    store_env,
    store_open,
)

PORT = int(os.environ.get("DRILL_PORT", "8765"))
USERS = int(os.environ.get("DRILL_USERS", "100"))
SECONDS = int(os.environ.get("DRILL_SECONDS", "60"))
FILMS = 300
REDIS_URL = os.environ.get("DRILL_REDIS_URL", "redis://127.0.0.1:6379/14")
ORIGINAL = {"rate": 2.78, "availability": 91.16, "mean": 29.43, "max": 44.86}


GUNICORN = ["--workers", "3", "--worker-class", "gthread", "--threads", "40", "--timeout", "60"]
FAULT_USERS, FAULT_SECONDS = 20, 20


def run_buyers(
    env: dict,
    users: int,
    seconds: int,
    tokens: Path,
    results: Path,
    *,
    csv: Path | None = None,
    first_account: int = 0,
) -> None:
    """locust, headless: `users` buyers for `seconds`, tallies written to `results`."""
    reports = ["--csv", str(csv)] if csv else []
    subprocess.run(  # noqa: S603
        [
            str(BIN / "locust"),
            "-f",
            "loadtests/drill.py",
            "--headless",
            "--host",
            f"http://127.0.0.1:{PORT}",
            "--users",
            str(users),
            "--spawn-rate",
            str(users),
            "--run-time",
            f"{seconds}s",
            "--only-summary",
            # let requests in flight finish: every 201 is counted
            "--stop-timeout",
            "15",
            *reports,
            "--exit-code-on-error",
            "0",
            "--loglevel",
            "WARNING",
        ],
        cwd=ROOT,
        check=True,
        timeout=seconds + 120,
        stdout=subprocess.DEVNULL if csv is None else None,
        env={
            **env,
            "DRILL_TOKENS": str(tokens),
            "DRILL_RESULTS": str(results),
            "DRILL_FIRST_ACCOUNT": str(first_account),
        },
    )


def fault_phase(env: dict, tokens: Path, work: Path) -> dict:
    """The gateway fails every call: buyers must get a fast 503, the catalog a 200."""
    results = work / "fault.json"
    catalog: list[tuple[int, float]] = []
    stop = threading.Event()

    def browse() -> None:
        while not stop.is_set():
            for path in ("/api/vods/", "/"):
                started = time.perf_counter()
                try:
                    with urllib.request.urlopen(  # 127.0.0.1 only
                        f"http://127.0.0.1:{PORT}{path}", timeout=10
                    ) as response:
                        status = response.status
                except urllib.error.HTTPError as exc:
                    status = exc.code
                except OSError:
                    status = 0
                catalog.append((status, time.perf_counter() - started))
            time.sleep(0.1)

    faulty = {**env, "PAYMENT_SIMULATED_FAILURE_RATE": "1.0"}
    with serving(faulty, PORT, GUNICORN):
        browser = threading.Thread(target=browse)
        browser.start()
        try:
            run_buyers(faulty, FAULT_USERS, FAULT_SECONDS, tokens, results, first_account=USERS)
        finally:
            stop.set()
            browser.join()
    run = json.loads(results.read_text())
    refusals = sorted(t for s, t in zip(run["all_statuses"], run["times"], strict=True) if s == 503)
    fast = [t for t in refusals if t < 0.6]  # answered by the open breaker, not the gateway
    return {
        "requests": len(run["times"]),
        "statuses": run["statuses"],
        "open_refusals": len(fast),
        "open_median_ms": 1000 * statistics.median(fast) if fast else None,
        "open_max_ms": 1000 * max(fast) if fast else None,
        "catalog_requests": len(catalog),
        "catalog_ok": sum(1 for status, _ in catalog if status == 200),
        "catalog_median_ms": 1000 * statistics.median(t for _, t in catalog),
    }


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="vod-drill-"))
    reports = ROOT / "reports"
    reports.mkdir(exist_ok=True)
    shared_cache = redis_up(REDIS_URL)
    env = store_env(
        work,
        DATABASE_URL=f"sqlite:///{work / 'drill.sqlite3'}",
        PAYMENT_SIMULATED_LATENCY_MS="600-900",
        # the receipts' handler is deferred to the worker: due a second after the commit
        EVENTS_DISPATCH_GRACE_SECONDS="1",
    )
    if shared_cache:
        env["CACHE_URL"] = REDIS_URL
        env["CACHE_KEY_PREFIX"] = f"drill-{secrets.token_hex(4)}"
    print(
        f"drill: {USERS} buyers, {SECONDS} s, gateway 600-900 ms, "
        f"{'Redis' if shared_cache else 'per-process'} guard state, SQLite in {work}"
    )
    store_open(env, films=FILMS)
    tokens_file = work / "tokens.json"
    accounts = in_store(env, "seed.buyers", prefix="drill", count=USERS + FAULT_USERS)
    tokens_file.write_text(json.dumps({"tokens": accounts["tokens"], "vod_ids": accounts["films"]}))

    results = work / "results.json"
    with serving(env, PORT, GUNICORN):
        run_buyers(env, USERS, SECONDS, tokens_file, results, csv=reports / "drill")
    fault = fault_phase(env, tokens_file, work)

    run = json.loads(results.read_text())
    statuses = {int(k): v for k, v in run["statuses"].items()}
    total = sum(statuses.values())
    created = statuses.get(201, 0)
    # a film of ₩0 needs no gateway: it is bought even while the gateway fails
    told_201 = created + int(fault["statuses"].get("201", 0))
    other_5xx = sum(v for k, v in statuses.items() if k >= 500 and k != 503) + statuses.get(0, 0)
    times = run["times"]
    ours = {
        "rate": created / SECONDS,
        "availability": 100 * (created + run["fast_refusals"]) / total,
        "errors": 100 * other_5xx / total,
        "mean": statistics.fmean(times),
        "max": max(times),
    }
    # Deliver what the store still owes, as the worker beside the web processes does:
    # the receipts (their handler is deferred to it) and events whose dispatch the
    # shutdown cut short; every event is due by now.
    time.sleep(2)
    manage(env, "outbox_worker", "--until-idle")
    # the store has stopped: nothing is under way, so the reconciler may take everything
    manage(env, "payments_reconcile", "--grace", "0")
    books = in_store(env, "books.drill", created=told_201)

    table = "\n".join(
        [
            f"Payment drill, {date.today().isoformat()}: {USERS} concurrent buyers "
            f"for {SECONDS} s, simulated gateway 600-900 ms",
            "",
            "| figure | original (2020) | this store |",
            "|---|---|---|",
            f"| purchases completed per second | {ORIGINAL['rate']:.2f} | {ours['rate']:.2f} |",
            f"| answered with 201 or a fast 503/429 | {ORIGINAL['availability']:.2f} % "
            f"| {ours['availability']:.2f} % |",
            f"| 5xx other than 503 (or no answer) | {100 - ORIGINAL['availability']:.2f} % "
            f"| {ours['errors']:.2f} % |",
            f"| mean response time | {ORIGINAL['mean']:.2f} s | {ours['mean']:.3f} s |",
            f"| longest response time | {ORIGINAL['max']:.2f} s | {ours['max']:.3f} s |",
            "",
            "Answers: "
            + ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items()))
            + f" (of {total} purchase requests)",
            "",
            f"Gateway failing every call ({FAULT_USERS} buyers, {FAULT_SECONDS} s): "
            f"{fault['requests']} purchase requests, answers {fault['statuses']}; "
            f"{fault['open_refusals']} refused by the open breaker in "
            f"{fault['open_median_ms']:.1f} ms median, {fault['open_max_ms']:.1f} ms at most; "
            f"catalog {fault['catalog_ok']}/{fault['catalog_requests']} answered 200 "
            f"({fault['catalog_median_ms']:.1f} ms median)",
            "",
            "Books: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in books.items()),
        ]
    )
    print("\n" + table + "\n")
    report_write("drill", table)

    problems = []
    if books["purchases"] != told_201 or books["paid"] != told_201:
        problems.append("purchases in the database differ from the 201 answers")
    if books["approved_payments"] != told_201:
        problems.append("approved payments differ from the 201 answers")
    for key in (
        "payment_problems",
        "points_lost",
        "points_doubled",
        "accounts_whose_balance_differs_from_ledger",
        "events_undelivered",
        "disagreements_with_the_gateway",
    ):
        if books[key]:
            problems.append(f"{key.replace('_', ' ')}: {books[key]}")
    if fault["catalog_ok"] != fault["catalog_requests"]:
        problems.append("the catalog failed while the gateway was down")
    if not fault["open_refusals"] or any(
        int(k) >= 500 and int(k) != 503 for k in fault["statuses"]
    ):
        problems.append("the open breaker did not answer 503 fast, or something else failed")
    if other_5xx:
        problems.append(f"{other_5xx} answers were 5xx other than 503, or none")
    shutil.rmtree(work, ignore_errors=True)
    if problems:
        print("THE BOOKS DO NOT BALANCE:\n- " + "\n- ".join(problems))
        return 1
    print(
        "The books balance: every 201 has one approved payment and its points (none for ₩0); "
        "no refused request left a row."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
