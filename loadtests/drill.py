"""Locustfile of the payment drill: the original's test, redone honestly.

Each simulated buyer has its own account (tokens prepared by `scripts/drill.py`, in
the file named by DRILL_TOKENS) and buys films it does not own yet, as fast as the
store lets it: a 503 or 429 is an answer ("try again in N seconds"), which the buyer
honours before its next attempt. Every answer's status and time is tallied and
written as JSON to DRILL_RESULTS when the run ends."""

import json
import os
import random
import threading
import time
from collections import Counter

from locust import between, events, task
from locust.contrib.fasthttp import FastHttpUser

TOKENS = json.loads(open(os.environ["DRILL_TOKENS"]).read())  # noqa: SIM115
VOD_IDS: list[int] = TOKENS["vod_ids"]
_accounts = iter(TOKENS["tokens"][int(os.environ.get("DRILL_FIRST_ACCOUNT", "0")) :])
_lock = threading.Lock()
_statuses: Counter = Counter()
_times: list[float] = []
_all_statuses: list[int] = []
_fast_refusals = 0
FAST_SECONDS = 1.0


@events.request.add_listener
def _tally(name, response_time, response, exception, **kwargs):
    global _fast_refusals
    if name != "buy":
        return
    status = getattr(response, "status_code", 0) or 0  # 0: no answer at all
    with _lock:
        _statuses[status] += 1
        _all_statuses.append(status)
        _times.append(response_time / 1000)
        if status in (429, 503) and response_time / 1000 < FAST_SECONDS:
            _fast_refusals += 1


@events.quitting.add_listener
def _write(environment, **kwargs):
    with open(os.environ["DRILL_RESULTS"], "w") as out:
        json.dump(
            {
                "statuses": dict(_statuses),
                "all_statuses": _all_statuses,
                "times": _times,
                "fast_refusals": _fast_refusals,
            },
            out,
        )


class Buyer(FastHttpUser):
    wait_time = between(0, 0.2)

    def on_start(self) -> None:
        with _lock:
            self.token = next(_accounts)
        self.unowned = list(VOD_IDS)
        random.shuffle(self.unowned)

    @task
    def buy(self) -> None:
        if not self.unowned:
            return
        with self.client.post(
            "/api/purchases/",
            json={"vod": self.unowned[-1], "payment_method": "card"},
            headers={"Authorization": f"Token {self.token}"},
            name="buy",
            catch_response=True,
        ) as response:
            if response.status_code == 201:
                self.unowned.pop()
                response.success()
            elif response.status_code in (429, 503):
                response.success()  # an honest "try again in N seconds"
                wait = float(response.headers.get("Retry-After") or 1)
                time.sleep(min(wait, 5))
            else:
                response.failure(f"{response.status_code}: {response.text[:200]}")
