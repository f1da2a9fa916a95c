"""A simulated card processor with a durable ledger of its own, for demos, tests and
fault drills. Standard library only, so it also runs as its own process:

    python -m payment.simulator --port 8099 --ledger gateway.sqlite3

It behaves like a processor: every operation (authorize, capture, void, refund) is
kept by its idempotency key in a SQLite file, so a repeated key answers what the first
call did and never moves money twice, also after the store's processes were killed;
an operation can be looked up by its key; authorizations not captured in time expire.
Its knobs (latency, failure rate, lost-answer rate, decline rate) can be changed while
it runs (`POST /control`), which is how the fault drill makes it fail and slow down.

A failure comes in two kinds, as with a real network: a plain failure happens before
the operation (nothing was done), a lost answer after it (the money moved, but the
caller hears only an error and must look the operation up). A call may carry the
caller's deadline: past it, the operation is not made (the caller has given up and may
look it up), so that a lookup after the deadline is final.
"""

import argparse
import json
import random
import sqlite3
import threading
import time
import urllib.parse
import uuid
from dataclasses import asdict, dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS charges (
    reference TEXT PRIMARY KEY,
    amount INTEGER NOT NULL,
    status TEXT NOT NULL,            -- authorized, captured, voided, expired
    refunded INTEGER NOT NULL DEFAULT 0,
    refunds INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS operations (
    key TEXT PRIMARY KEY,
    kind TEXT NOT NULL,              -- authorize, capture, void, refund
    outcome TEXT NOT NULL,           -- succeeded, declined, rejected
    reference TEXT NOT NULL,
    amount INTEGER NOT NULL,
    detail TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL
);
"""


class Declined(Exception):
    """The card was refused."""


class Rejected(Exception):
    """The operation can never succeed (wrong state, unknown reference, key reused)."""


class Unavailable(Exception):
    """A simulated fault; `done` says whether the operation happened before it."""

    def __init__(self, message: str, *, done: bool) -> None:
        super().__init__(message)
        self.done = done


@dataclass
class Knobs:
    latency_ms: tuple[float, float] = (0.0, 0.0)
    failure_rate: float = 0.0
    lost_answer_rate: float = 0.0
    decline_rate: float = 0.0
    authorization_seconds: float = 7 * 24 * 3600.0  # Stripe holds an authorization 7 days

    def update(self, values: dict) -> None:
        for name, value in values.items():
            if name == "latency_ms":
                setattr(self, name, parse_latency(str(value)))
            elif name in ("failure_rate", "lost_answer_rate", "decline_rate"):
                setattr(self, name, float(value))
            elif name == "authorization_seconds":
                self.authorization_seconds = float(value)
            else:
                raise ValueError(f"unknown knob {name!r}")


def parse_latency(spec: str) -> tuple[float, float]:
    """ "600-900" (milliseconds, uniformly between) or "50" -> (low, high) in ms."""
    low, _, high = spec.partition("-")
    low_ms = float(low or 0)
    return low_ms, float(high or low_ms)


@dataclass
class Processor:
    """The processor's books and rules, on a SQLite file shared by every process that
    opens the same path."""

    path: str
    knobs: Knobs = field(default_factory=Knobs)

    def __post_init__(self) -> None:
        self._local = threading.local()
        self._random = random.Random()  # noqa: S311 - a simulation, not security
        with self._db() as db:
            db.executescript(SCHEMA)

    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")  # a processor's books survive a crash
            self._local.db = db
        return db

    # -- the operations -----------------------------------------------------------
    def authorize(self, *, key: str, amount: int, deadline: float | None = None) -> dict:
        return self._operate("authorize", key, amount, "", self._authorize, deadline)

    def capture(
        self, *, key: str, reference: str, amount: int, deadline: float | None = None
    ) -> dict:
        return self._operate("capture", key, amount, reference, self._capture, deadline)

    def void(self, *, key: str, reference: str, deadline: float | None = None) -> dict:
        return self._operate("void", key, 0, reference, self._void, deadline)

    def refund(
        self, *, key: str, reference: str, amount: int, deadline: float | None = None
    ) -> dict:
        return self._operate("refund", key, amount, reference, self._refund, deadline)

    def lookup(self, *, key: str) -> dict | None:
        """The operation made with `key`, or None. Read under the ledger's write lock: a
        call that passed its deadline check is either committed before this read or
        refused after it, never committed after a lookup said "not made" (without
        the lock, a lookup could slip between a call's check and its commit)."""
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            return self._find(db, key)
        finally:
            db.execute("COMMIT")

    @staticmethod
    def _find(db, key: str) -> dict | None:
        row = db.execute("SELECT * FROM operations WHERE key = ?", (key,)).fetchone()
        return _operation(row) if row else None

    def ledger(self) -> dict:
        """Every charge and operation, for reconciliation and drills."""
        db = self._db()
        self._expire(db)
        return {
            "charges": [dict(r) for r in db.execute("SELECT * FROM charges ORDER BY created_at")],
            "operations": [
                _operation(r) for r in db.execute("SELECT * FROM operations ORDER BY created_at")
            ],
        }

    # -- the protocol around every operation ----------------------------------------
    def _operate(
        self, kind: str, key: str, amount: int, reference: str, effect, deadline: float | None
    ) -> dict:
        if not key or amount < 0:
            raise Rejected("an idempotency key and a non-negative amount are needed")
        known = self._find(self._db(), key)  # a replay: no need to wait for writers
        if known is not None:
            return self._replay(known, kind, amount, reference)
        low, high = self.knobs.latency_ms
        if high > 0:
            time.sleep(self._random.uniform(low, high) / 1000)
        if self._random.random() < self.knobs.failure_rate:
            raise Unavailable("simulated processor failure", done=False)
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            known = self._find(db, key)  # a concurrent call with the same key got here first
            if known is None and deadline is not None and time.time() > deadline:
                # The caller has given up on this call: it must not happen after that,
                # so that a lookup once the deadline has passed is the final word.
                raise Unavailable("the caller's deadline passed", done=False)
            if known is None:
                self._expire(db)
                now = time.time()
                try:
                    outcome, reference, detail = "succeeded", *effect(db, amount, reference, now)
                except Declined as exc:
                    outcome, detail = "declined", str(exc)
                except Rejected as exc:
                    outcome, detail = "rejected", str(exc)
                db.execute(
                    "INSERT INTO operations (key, kind, outcome, reference, amount, detail, "
                    "created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (key, kind, outcome, reference, amount, detail, now),
                )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        known = known or self._find(self._db(), key)
        result = self._replay(known, kind, amount, reference)
        if self._random.random() < self.knobs.lost_answer_rate:
            raise Unavailable("simulated lost answer", done=True)
        return result

    @staticmethod
    def _replay(known: dict, kind: str, amount: int, reference: str) -> dict:
        if (
            known["kind"] != kind
            or known["amount"] != amount
            or (reference and known["reference"] != reference)
        ):
            raise Rejected("this idempotency key was used for another operation")
        if known["outcome"] == "declined":
            raise Declined(known["detail"])
        if known["outcome"] == "rejected":
            raise Rejected(known["detail"])
        return known

    # -- the effects, inside the ledger's write transaction ----------------------------
    def _authorize(self, db, amount: int, _reference: str, now: float) -> tuple[str, str]:
        if self._random.random() < self.knobs.decline_rate:
            raise Declined("simulated decline")
        reference = f"sim_{uuid.uuid4().hex}"
        db.execute(
            "INSERT INTO charges (reference, amount, status, created_at, expires_at) "
            "VALUES (?, ?, 'authorized', ?, ?)",
            (reference, amount, now, now + self.knobs.authorization_seconds),
        )
        return reference, ""

    def _charge(self, db, reference: str) -> sqlite3.Row:
        row = db.execute("SELECT * FROM charges WHERE reference = ?", (reference,)).fetchone()
        if row is None:
            raise Rejected(f"no charge {reference}")
        return row

    def _capture(self, db, amount: int, reference: str, _now: float) -> tuple[str, str]:
        charge = self._charge(db, reference)
        if charge["status"] != "authorized":
            raise Rejected(f"cannot capture a charge that is {charge['status']}")
        if amount != charge["amount"]:
            raise Rejected("capture amount differs from the authorization")
        db.execute("UPDATE charges SET status = 'captured' WHERE reference = ?", (reference,))
        return reference, ""

    def _void(self, db, _amount: int, reference: str, _now: float) -> tuple[str, str]:
        charge = self._charge(db, reference)
        if charge["status"] != "authorized":
            raise Rejected(f"cannot void a charge that is {charge['status']}")
        db.execute("UPDATE charges SET status = 'voided' WHERE reference = ?", (reference,))
        return reference, ""

    def _refund(self, db, amount: int, reference: str, _now: float) -> tuple[str, str]:
        charge = self._charge(db, reference)
        if charge["status"] != "captured":
            raise Rejected(f"cannot refund a charge that is {charge['status']}")
        if charge["refunded"] + amount > charge["amount"]:
            raise Rejected("refund exceeds what was captured")
        db.execute(
            "UPDATE charges SET refunded = refunded + ?, refunds = refunds + 1 WHERE reference = ?",
            (amount, reference),
        )
        return reference, ""

    def _expire(self, db) -> None:
        db.execute(
            "UPDATE charges SET status = 'expired' WHERE status = 'authorized' AND expires_at < ?",
            (time.time(),),
        )


def _operation(row: sqlite3.Row) -> dict:
    return {k: row[k] for k in ("key", "kind", "outcome", "reference", "amount", "detail")}


# --- over HTTP ----------------------------------------------------------------------


def _args(body: dict, *names: str) -> dict:
    """An operation's arguments from a request body: the named ones and the deadline."""
    args = {name: int(body[name]) if name == "amount" else body[name] for name in names}
    return {**args, "deadline": body.get("deadline")}


OPERATIONS = {
    "/authorize": lambda p, b: p.authorize(**_args(b, "key", "amount")),
    "/capture": lambda p, b: p.capture(**_args(b, "key", "reference", "amount")),
    "/void": lambda p, b: p.void(**_args(b, "key", "reference")),
    "/refund": lambda p, b: p.refund(**_args(b, "key", "reference", "amount")),
}


def make_handler(processor: Processor) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format, *args):
            pass  # a drill sends thousands of calls; errors are answered, not logged

        def _answer(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path == "/ledger":
                return self._answer(200, processor.ledger())
            if self.path == "/control":
                return self._answer(200, asdict(processor.knobs))
            if self.path.startswith("/operations/"):
                key = urllib.parse.unquote(self.path.removeprefix("/operations/"))
                found = processor.lookup(key=key)
                if found is None:
                    return self._answer(404, {"error": "no such operation"})
                return self._answer(200, found)
            if self.path == "/healthz":
                return self._answer(200, {"status": "ok"})
            return self._answer(404, {"error": "no such endpoint"})

        def do_POST(self) -> None:
            try:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                if self.path == "/control":
                    processor.knobs.update(body)
                    return self._answer(200, asdict(processor.knobs))
                operation = OPERATIONS.get(self.path)
                if operation is None:
                    return self._answer(404, {"error": "no such endpoint"})
                return self._answer(200, operation(processor, body))
            except Declined as exc:
                return self._answer(HTTPStatus.PAYMENT_REQUIRED, {"error": str(exc)})
            except Rejected as exc:
                return self._answer(HTTPStatus.CONFLICT, {"error": str(exc)})
            except Unavailable as exc:
                return self._answer(HTTPStatus.SERVICE_UNAVAILABLE, {"error": str(exc)})
            except (KeyError, ValueError, TypeError) as exc:
                return self._answer(HTTPStatus.BAD_REQUEST, {"error": repr(exc)})

    return Handler


def serve(*, host: str, port: int, processor: Processor) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer((host, port), make_handler(processor))
    server.daemon_threads = True
    return server


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8099)
    parser.add_argument("--ledger", default="gateway.sqlite3", help="the processor's books")
    parser.add_argument("--latency-ms", default="0-0")
    parser.add_argument("--failure-rate", type=float, default=0.0)
    parser.add_argument("--lost-answer-rate", type=float, default=0.0)
    parser.add_argument("--decline-rate", type=float, default=0.0)
    parser.add_argument("--authorization-seconds", type=float, default=7 * 24 * 3600.0)
    args = parser.parse_args(argv)
    knobs = Knobs(
        latency_ms=parse_latency(args.latency_ms),
        failure_rate=args.failure_rate,
        lost_answer_rate=args.lost_answer_rate,
        decline_rate=args.decline_rate,
        authorization_seconds=args.authorization_seconds,
    )
    Path(args.ledger).parent.mkdir(parents=True, exist_ok=True)
    server = serve(host=args.host, port=args.port, processor=Processor(args.ledger, knobs))
    where = f"http://{args.host}:{args.port}"
    print(f"simulated processor on {where}, ledger {args.ledger}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
