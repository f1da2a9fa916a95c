"""`make drill`: the original team's load test, redone against this store.

Starts gunicorn on 127.0.0.1 with the simulated gateway at 600-900 ms, runs 100
concurrent buyers for 60 s with locust (headless), prints our figures beside the
original's, then checks the books. Traffic goes to 127.0.0.1 only; the run is bounded.
"""

import contextlib
import json
import os
import secrets
import shutil
import signal
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

from storerun import BIN, ROOT, manage, redis_up, wait_for

PORT = int(os.environ.get("DRILL_PORT", "8765"))
USERS = int(os.environ.get("DRILL_USERS", "100"))
SECONDS = int(os.environ.get("DRILL_SECONDS", "60"))
FILMS = 300
REDIS_URL = os.environ.get("DRILL_REDIS_URL", "redis://127.0.0.1:6379/14")
ORIGINAL = {"rate": 2.78, "availability": 91.16, "mean": 29.43, "max": 44.86}


SETUP = """
import json, os
import django
django.setup()
from django.contrib.auth.models import User
from vodstore.auth import tokens_in_bulk
from catalog.models import Vod
accounts = int(os.environ["USERS"]) + int(os.environ["FAULT_USERS"])
users = User.objects.bulk_create(
    [User(username=f"drill{i}", password="!") for i in range(accounts)]
)
tokens = tokens_in_bulk(users)
ids = list(Vod.objects.filter(is_active=True).values_list("id", flat=True))
print(json.dumps({"tokens": tokens, "vod_ids": ids}))
"""

BOOKS = """
import json, os
import django
django.setup()
from django.conf import settings
from django.db.models import Count, Q, Sum
from mileage.models import MileageAccount, MileageEntry
from payment.models import Payment
from payment.reconcile import payments_check, payments_reconcile
from purchase.models import Purchase
from vodstore.models import OutboxEvent
created = int(os.environ["CREATED"])
# the store has stopped: nothing is under way, so the reconciler may take everything
payments_reconcile(grace_seconds=0)
purchases = Purchase.objects.count()
paid = Purchase.objects.filter(status="paid").count()
payments = Payment.objects.filter(status="approved").count()
double_paid = (
    Payment.objects.values("purchase_id").annotate(n=Count("id")).filter(n__gt=1).count()
)
unpaid = Purchase.objects.exclude(
    id__in=Payment.objects.filter(status="approved").values("purchase_id")
).count()
earned = MileageEntry.objects.filter(reason="earned")
# every purchase of money earns exactly 1000; a film of ₩0 earns nothing
wrong_points = (
    Purchase.objects.filter(amount__gt=0)
    .exclude(
        id__in=earned.filter(delta=settings.MILEAGE_EARN_PER_PURCHASE).values("purchase_id")
    )
    .count()
    + Purchase.objects.filter(amount=0, id__in=earned.values("purchase_id")).count()
    + earned.values("purchase_id").annotate(n=Count("id")).filter(n__gt=1).count()
)
unbalanced = sum(
    1
    for a in MileageAccount.objects.annotate(total=Sum("entries__delta"))
    if a.balance != (a.total or 0)
)
print(json.dumps({
    "created_201": created, "purchases": purchases, "paid": paid, "approved_payments": payments,
    "purchases_without_payment": unpaid, "purchases_with_two_payments": double_paid,
    "purchases_with_wrong_points": wrong_points,
    "accounts_whose_balance_differs_from_ledger": unbalanced,
    "events_pending": OutboxEvent.objects.exclude(status="delivered").count(),
    "disagreements_with_the_gateway": len(payments_check(grace_seconds=0)),
}))
"""


GUNICORN = ["--workers", "3", "--worker-class", "gthread", "--threads", "40", "--timeout", "60"]
FAULT_USERS, FAULT_SECONDS = 20, 20


@contextlib.contextmanager
def serving(env: dict):
    """gunicorn on 127.0.0.1 for the duration of the block."""
    server = subprocess.Popen(  # noqa: S603
        [
            str(BIN / "gunicorn"),
            "vodstore.wsgi:application",
            "--bind",
            f"127.0.0.1:{PORT}",
            *GUNICORN,
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    try:
        wait_for(f"http://127.0.0.1:{PORT}/healthz")
        yield
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)


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
    with serving(faulty):
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
    env = {
        **os.environ,
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "SECURE_HTTPS": "false",
        "ALLOWED_HOSTS": "127.0.0.1",
        "DATABASE_URL": f"sqlite:///{work / 'drill.sqlite3'}",
        "PAYMENT_SIMULATED_LATENCY_MS": "600-900",
        "PAYMENT_SIMULATED_LEDGER": str(work / "gateway.sqlite3"),
        "LOG_LEVEL": "WARNING",
        # the receipts' handler is deferred to the worker: due a second after the commit
        "EVENTS_DISPATCH_GRACE_SECONDS": "1",
        "USERS": str(USERS),
        "FAULT_USERS": str(FAULT_USERS),
        "DJANGO_SETTINGS_MODULE": "vodstore.settings",
    }
    if shared_cache:
        env["CACHE_URL"] = REDIS_URL
        env["CACHE_KEY_PREFIX"] = f"drill-{secrets.token_hex(4)}"
    print(
        f"drill: {USERS} buyers, {SECONDS} s, gateway 600-900 ms, "
        f"{'Redis' if shared_cache else 'per-process'} guard state, SQLite in {work}"
    )
    env["STATIC_ROOT"] = str(work / "static")
    manage(env, "migrate", "--no-input")
    manage(env, "collectstatic", "--no-input")
    manage(env, "load_demo_catalog", "--count", str(FILMS))
    setup = subprocess.run(  # noqa: S603
        [sys.executable, "-c", SETUP],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    tokens_file = work / "tokens.json"
    tokens_file.write_text(setup.stdout)

    results = work / "results.json"
    with serving(env):
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
    books = json.loads(
        subprocess.run(  # noqa: S603
            [sys.executable, "-c", BOOKS],
            cwd=ROOT,
            env={**env, "CREATED": str(told_201)},
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )

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
    (reports / "drill.md").write_text(table + "\n")

    problems = []
    if books["purchases"] != told_201 or books["paid"] != told_201:
        problems.append("purchases in the database differ from the 201 answers")
    if books["approved_payments"] != told_201:
        problems.append("approved payments differ from the 201 answers")
    for key in (
        "purchases_without_payment",
        "purchases_with_two_payments",
        "purchases_with_wrong_points",
        "accounts_whose_balance_differs_from_ledger",
        "events_pending",
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
        "The books balance: every 201 has one approved payment and its points (1000, none for ₩0); "
        "no refused request left a row."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
