"""`make broker-drill`: the store in broker mode, broken on purpose while it sells.

Starts everything it uses, on ports of its own on 127.0.0.1: a PostgreSQL cluster
(5493), a Redis (6393), a RabbitMQ node (5695), gunicorn (8794), two relays
(`outbox_worker`) and several consumers per app (`consume_events`). Then:

1. **Calm** (15 s): buyers shop with nothing broken: purchase and delivery latency.
2. **Chaos** (BROKER_DRILL_SECONDS, 45 s): buyers buy films by card and cancel some,
   while the drill `kill -9`s random consumers and one relay and restarts them, stops
   the broker for 10 s, and injects one poison message (not an event of this store).
   Purchase latency is measured with the broker up and with it down.
3. **Throughput**: with the mileage consumers stopped, buyers make a batch of purchases,
   whose events wait in the queue; then 1, 2 and 4 consumers drain a batch each, timed.
4. **Books**: every paid purchase earned exactly once, every cancel reversed exactly
   once, every balance equals its ledger, the outbox drained, redeliveries happened and
   were absorbed, only the poison message dead-lettered.

Everything it started is stopped by process id at the end, also on an error or Ctrl-C.
The last line is `broker-drill: lost L, doubled D, dead-lettered X, redeliveries R`; it
exits non-zero when L or D is not 0 or X is not 1.
"""

import ast
import contextlib
import http.client
import json
import os
import random
import re
import signal
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from datetime import datetime
from pathlib import Path

from scripts.lab import Lab
from scripts.rabbit import PrivateRabbit
from scripts.runner import BIN, HOST, in_store, manage, store_env, store_open

REDIS_PORT, PG_PORT, WEB_PORT, RABBIT_PORT = 6393, 5493, 8794, 5695
SECONDS = float(os.environ.get("BROKER_DRILL_SECONDS", "45"))
CALM_SECONDS = 15.0
BUYERS = 16
ACCOUNTS = 48
FILMS = 6000
BATCH = int(os.environ.get("BROKER_DRILL_BATCH", "900"))  # purchases per throughput batch
CANCEL_SHARE = 0.2
BROKER_DOWN_SECONDS = 10
PREFIX = "drill"
GUNICORN = ["--workers", "3", "--worker-class", "gthread", "--threads", "8", "--timeout", "60"]
CONSUMERS = {"mileage": 3, "payment": 2, "purchase": 1}  # during the chaos (purchase: receipts)
SHUFFLE = random.Random(7)  # noqa: S311 - a simulation, not security


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


class Buyer:
    """An account buying films by card over HTTP, and cancelling some of them."""

    def __init__(self, token: str, films: list[int], seed: int) -> None:
        self.token = token
        self.films = films
        self.random = random.Random(seed)  # noqa: S311 - a simulation, not security
        self.owned: list[int] = []
        self.connection: http.client.HTTPConnection | None = None

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        headers = {"Authorization": f"Token {self.token}", "Content-Type": "application/json"}
        if method == "POST" and path == "/api/purchases/":
            headers["Idempotency-Key"] = str(uuid.uuid4())
        for _ in range(2):
            if self.connection is None:
                self.connection = http.client.HTTPConnection(HOST, WEB_PORT, timeout=30)
            try:
                self.connection.request(
                    method, path, json.dumps(body) if body else None, headers=headers
                )
                answer = self.connection.getresponse()
                data = answer.read()
                return answer.status, (json.loads(data) if data else {})
            except (OSError, http.client.HTTPException):
                self.connection.close()
                self.connection = None
        return 0, {}

    def buy(self, latencies: list[tuple[float, float]]) -> int | None:
        film = self.films.pop()
        started = time.monotonic()
        status, body = self.call("POST", "/api/purchases/", {"vod": film})
        latencies.append((started, time.monotonic() - started))
        if status == 201:
            self.owned.append(body["id"])
            return body["id"]
        return None

    def cancel(self) -> bool:
        if not self.owned:
            return False
        purchase = self.owned.pop(self.random.randrange(len(self.owned)))
        status, _ = self.call("POST", f"/api/purchases/{purchase}/cancel/")
        return status == 200


class Drill:
    def __init__(self, lab: Lab, rabbit: PrivateRabbit) -> None:
        self.lab = lab
        self.rabbit = rabbit
        self.env: dict = {}
        self.serial = Counter()
        self.consumers: dict[str, list[str]] = {group: [] for group in CONSUMERS}
        self.relays: list[str] = []
        self.counts: Counter = Counter()  # from the consumers' last lines
        self.notes: list[str] = []

    # -- processes ---------------------------------------------------------------------
    def start_consumer(self, group: str) -> str:
        self.serial[group] += 1
        name = f"consume-{group}-{self.serial[group]}"
        args = [BIN / "python", "manage.py", "consume_events", "--group", group]
        self.lab.spawn(name, args, log=f"{name}.log", env=self.env)
        self.consumers[group].append(name)
        return name

    def start_relay(self) -> str:
        self.serial["relay"] += 1
        name = f"relay-{self.serial['relay']}"
        args = [BIN / "python", "manage.py", "outbox_worker", "--interval", "0.1"]
        self.lab.spawn(name, args, log=f"{name}.log", env=self.env)
        self.relays.append(name)
        return name

    def kill9(self, name: str) -> None:
        proc = self.lab.procs.pop(name)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        for names in (*self.consumers.values(), self.relays):
            if name in names:
                names.remove(name)

    def stop_consumer(self, name: str) -> None:
        """SIGTERM: it finishes its message and prints its counts, which are kept."""
        self.lab.stop(name)
        for names in self.consumers.values():
            if name in names:
                names.remove(name)
        text = self.lab.logs[name].read_text(errors="replace")
        found = re.findall(r"stopped: (\{.*\})", text)
        if found:
            self.counts.update(ast.literal_eval(found[-1]))

    def progress(self) -> dict:
        return in_store(self.env, "books.progress")

    def wait_drained(self, seconds: float = 180) -> dict:
        """Until every event is published and every handler has run (or time is up)."""
        deadline = time.monotonic() + seconds
        while True:
            now = self.progress()
            mileage_wanted = now["approved"] + now["cancelled"]
            done = (
                now["pending"] == 0
                and now["retrying"] == 0
                and now["mileage_done"] >= mileage_wanted
                and now["payment_done"] >= now["purchase_cancelled"]
                and now["purchase_done"] >= now["purchased"]
            )
            if done or time.monotonic() > deadline:
                return now
            time.sleep(0.5)

    def dead_letters(self) -> int:
        done = manage(self.env, "dead_letters")
        return sum(int(n) for n in re.findall(r": (\d+) dead letter", done.stdout))

    # -- the phases --------------------------------------------------------------------
    def set_up(self, work: Path) -> list[Buyer]:
        self.lab.redis_start()
        self.lab.postgres_init()
        self.env = store_env(
            work,
            DATABASE_URL=self.lab.database_url,
            CACHE_URL=self.lab.cache_url,
            EVENT_BROKER_URL=self.rabbit.url,
            EVENT_BROKER_PREFIX=PREFIX,
            EVENT_BROKER_TIMEOUT="3",
            EVENTS_LEASE_SECONDS="5",  # a killed relay's rows are published again soon
            EVENTS_RETRY_BASE_SECONDS="1",
            EVENTS_RETRY_MAX_SECONDS="5",
            PURCHASE_RATE="100000/min",
            # receipts: each message a file, so the books can count what was really sent
            # (django-environ takes the path after "filemail://" less its first "/")
            EMAIL_URL=f"filemail:///{work / 'mail'}",
            SITE_URL=f"http://{HOST}",
        )
        store_open(self.env, films=FILMS)
        accounts = in_store(
            self.env, "seed.buyers", prefix="buyer", count=ACCOUNTS, emails=True, priced=True
        )
        films = accounts["films"]
        SHUFFLE.shuffle(films)
        share = len(films) // ACCOUNTS
        buyers = [
            Buyer(token, films[i * share : (i + 1) * share], seed=i)
            for i, token in enumerate(accounts["tokens"])
        ]
        self.lab.env = self.env
        self.lab.web_start()
        for _ in range(2):
            self.start_relay()
        for group, count in CONSUMERS.items():
            for _ in range(count):
                self.start_consumer(group)
        time.sleep(3)  # the consumers declare their queues
        return buyers

    def shop(self, buyers: list[Buyer], seconds: float, latencies: list, *, cancels=True) -> int:
        """Buyers buy (and cancel a share) for `seconds`; return the purchases made."""
        until = time.monotonic() + seconds
        made = Counter()

        def run(buyer: Buyer) -> None:
            while time.monotonic() < until and buyer.films:
                if buyer.buy(latencies):
                    made["bought"] += 1
                if cancels and buyer.random.random() < CANCEL_SHARE and buyer.cancel():
                    made["cancelled"] += 1

        SHUFFLE.shuffle(buyers)  # a different few each time, among those with films left
        pool = [b for b in buyers if b.films][:BUYERS]
        threads = [threading.Thread(target=run, args=(b,), daemon=True) for b in pool]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=seconds + 60)
        return made["bought"]

    def calm(self, buyers: list[Buyer]) -> dict:
        """Shopping with nothing broken: the figures to compare the chaos with."""
        latencies: list[tuple[float, float]] = []
        window_start = datetime.now().astimezone().isoformat()
        bought = self.shop(buyers, CALM_SECONDS, latencies)
        self.wait_drained()
        window_end = datetime.now().astimezone().isoformat()
        return {
            "bought": bought,
            "window": [window_start, window_end],
            "latencies": [s for _, s in latencies],
        }

    def chaos(self, buyers: list[Buyer]) -> dict:
        latencies: list[tuple[float, float]] = []
        started = time.monotonic()
        broker_down: list[float] = []

        def at(offset: float) -> None:
            time.sleep(max(0.0, started + offset - time.monotonic()))

        def breaker() -> None:
            rng = random.Random(11)  # noqa: S311 - a simulation, not security
            at(SECONDS * 0.15)
            victim = rng.choice(self.consumers["mileage"])
            self.kill9(victim)
            self.notes.append(f"kill -9 {victim} at {time.monotonic() - started:.0f} s")
            at(SECONDS * 0.2)
            self.start_consumer("mileage")
            victim = self.relays[0]
            self.kill9(victim)
            self.notes.append(f"kill -9 {victim} at {time.monotonic() - started:.0f} s")
            at(SECONDS * 0.3)
            self.start_relay()
            at(SECONDS * 0.4)
            broker_down.append(time.monotonic())
            self.rabbit.stop()
            self.notes.append(f"broker stopped at {time.monotonic() - started:.0f} s")
            time.sleep(BROKER_DOWN_SECONDS)
            self.rabbit.start()
            broker_down.append(time.monotonic())
            self.notes.append(f"broker back at {time.monotonic() - started:.0f} s")
            at(SECONDS * 0.75)
            victim = rng.choice(self.consumers["payment"])
            self.kill9(victim)
            self.start_consumer("payment")
            victim2 = rng.choice(self.consumers["mileage"])
            self.kill9(victim2)
            self.start_consumer("mileage")
            self.notes.append(
                f"kill -9 {victim} and {victim2} at {time.monotonic() - started:.0f} s"
            )
            at(SECONDS * 0.85)
            self.inject_poison()
            self.notes.append(f"poison message at {time.monotonic() - started:.0f} s")

        chaos_thread = threading.Thread(target=breaker, daemon=True)
        window_start = datetime.now().astimezone().isoformat()
        chaos_thread.start()
        bought = self.shop(buyers, SECONDS, latencies)
        chaos_thread.join(timeout=60)
        window_end = datetime.now().astimezone().isoformat()
        down_from, down_to = broker_down if len(broker_down) == 2 else (0.0, 0.0)
        up = [s for t, s in latencies if not (down_from <= t <= down_to)]
        down = [s for t, s in latencies if down_from <= t <= down_to]
        return {
            "bought": bought,
            "window": [window_start, window_end],
            "up": up,
            "down": down,
            "requests": len(latencies),
        }

    def inject_poison(self) -> None:
        """A message that is no event of this store, routed to mileage's queue."""
        in_store(self.env, "poison", exchange_prefix=PREFIX)

    def throughput(self, buyers: list[Buyer]) -> list[tuple[int, int, float]]:
        """(consumers, events, events per second) for 1, 2 and 4 mileage consumers."""
        for name in list(self.consumers["mileage"]):
            self.stop_consumer(name)
        rows = []
        for count in (1, 2, 4):
            before = self.progress()
            latencies: list = []
            target = before["approved"] + BATCH
            while self.progress()["approved"] < target and any(b.films for b in buyers):
                self.shop(buyers, 5, latencies, cancels=False)
            while self.progress()["pending"]:
                time.sleep(0.2)  # all published: waiting in mileage's queue
            queued = self.progress()
            events_waiting = queued["approved"] + queued["cancelled"] - queued["mileage_done"]
            started = time.monotonic()
            names = [self.start_consumer("mileage") for _ in range(count)]
            done = self.wait_drained(seconds=300)
            elapsed = time.monotonic() - started
            rows.append((count, events_waiting, events_waiting / elapsed))
            del done
            for name in names:
                self.stop_consumer(name)
        self.start_consumer("mileage")
        return rows


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="vod-broker-drill-"))
    work.chmod(0o711)  # the postgres user reaches its folders inside
    lab = Lab(work, redis_port=REDIS_PORT, pg_port=PG_PORT, web_port=WEB_PORT, gunicorn=GUNICORN)
    rabbit = PrivateRabbit(port=RABBIT_PORT)
    began = time.monotonic()
    print(
        f"broker-drill: PostgreSQL {PG_PORT}, Redis {REDIS_PORT}, RabbitMQ {RABBIT_PORT}, "
        f"the store on {HOST}:{WEB_PORT}; logs in {work}",
        flush=True,
    )
    try:
        rabbit.start()
        drill = Drill(lab, rabbit)
        buyers = drill.set_up(work)
        print(f"- set-up: {ACCOUNTS} accounts, {FILMS} films, 2 relays, consumers {CONSUMERS}")
        calm = drill.calm(buyers)
        print(f"- calm: {calm['bought']} purchases in {CALM_SECONDS:.0f} s, nothing broken")
        chaos = drill.chaos(buyers)
        print(f"- chaos: {chaos['bought']} purchases; " + "; ".join(drill.notes), flush=True)
        drained = drill.wait_drained()
        print(f"- drained after the chaos: {drained}", flush=True)
        rows = drill.throughput(buyers)
        drill.wait_drained()
        for group in CONSUMERS:
            for name in list(drill.consumers[group]):
                drill.stop_consumer(name)
        for name in list(drill.relays):
            lab.stop(name)
        dead = drill.dead_letters()
        books = in_store(
            drill.env,
            "books.broker",
            calm=calm["window"],
            chaos=chaos["window"],
            mail_dir=str(work / "mail"),
        )
    finally:
        with contextlib.suppress(Exception):
            lab.close()
        rabbit.close()
    lost, doubled = books["lost"], books["doubled"]
    redelivered = drill.counts["redelivered"]
    up, down, quiet = chaos["up"], chaos["down"], calm["latencies"]
    stamp = datetime.now().strftime("%Y-%m-%d %H:%M")
    print()
    print(
        f"Broker drill, {stamp}: {books['purchases']} purchases ({books['cancelled']} "
        f"cancelled), {books['events']} events, {books['deliveries']} handler runs; "
        f"{(time.monotonic() - began) / 60:.1f} minutes in all."
    )
    print()
    print("| what | figure |")
    print("|---|---|")
    print(f"| purchase latency, calm (p50 / p95) | {ms(quiet, 0.5)} / {ms(quiet, 0.95)} ms |")
    print(
        f"| purchase latency in the chaos, broker up (p50 / p95) | {ms(up, 0.5)} / "
        f"{ms(up, 0.95)} ms |"
    )
    print(
        f"| purchase latency in the chaos, broker stopped (p50 / p95) | {ms(down, 0.5)} / "
        f"{ms(down, 0.95)} ms ({len(down)} purchases) |"
    )
    for name, values in (("calm", books["calm"]), ("in the chaos", books["chaos"])):
        print(
            f"| delivery latency {name}, event to handler (p50 / p95 / p99) | "
            f"{ms(values, 0.5)} / {ms(values, 0.95)} / {ms(values, 0.99)} ms |"
        )
    for count, events, rate in rows:
        print(
            f"| mileage events end to end, {count} consumer(s) | {rate:.0f}/s ({events} events) |"
        )
    absorbed = drill.counts["absorbed"]
    print(f"| redeliveries (absorbed: handlers already done) | {redelivered} ({absorbed}) |")
    print(f"| consumer reconnects after the broker stop | {drill.counts['reconnects']} |")
    print(f"| dead-lettered | {dead} |")
    print(f"| balances unlike their ledger | {books['unbalanced']} |")
    print(
        f"| receipts e-mailed (claimed; claimed but not sent) | {books['mailed']} "
        f"({books['claimed']}; {books['unsent']}) |"
    )
    for problem in books["problems"]:
        print(f"  problem: {problem}")
    print()
    print(
        f"broker-drill: lost {lost}, doubled {doubled}, dead-lettered {dead}, "
        f"redeliveries {redelivered}"
    )
    return 0 if lost == 0 and doubled == 0 and dead == 1 else 1


def ms(values: list[float], share: float) -> str:
    return f"{percentile(values, share) * 1000:.0f}"


if __name__ == "__main__":
    sys.exit(main())
