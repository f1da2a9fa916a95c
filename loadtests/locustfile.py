"""Realistic load for `make load`: shoppers browse and search far more than anyone buys.

Two kinds of visitors, weighted like a real store (about 15 browsers to 1 buyer):

- Browser (anonymous): the storefront's catalog, searches, genre pages and film
  pages, and the same through the JSON API; a few seconds between clicks.
- Buyer: signs up (API), browses, buys films by card, spends 5000 points on a free
  film whenever the balance allows, looks at the library, and now and then cancels
  a purchase.

The store's business answers are successes, not failures: 409 (already owned, not
cancellable), 402 (declined, not enough points), 429 and 503 (rate limit, payment
guard: the buyer waits the `Retry-After` seconds, as the storefront asks). Anything
else (5xx, an unexpected 4xx, no answer) is a failure.

Runs against any host: `make load HOST=https://... USERS=200 DURATION=5m`, or
`locust -f loadtests/locustfile.py --host ...` for the web UI. It learns the film ids
from the API, so it needs nothing but the store's URL.
"""

import random
import threading
import time
import uuid

from locust import between, task
from locust.contrib.fasthttp import FastHttpUser

GENRES = ["action", "animation", "comedy", "documentary", "drama", "fantasy", "horror"]
GENRES += ["romance", "sci-fi", "thriller"]
# Words people type into the search box (titles of the demo catalog use them).
SEARCH_WORDS = [
    "busan", "seoul", "harbor", "night", "summer", "winter", "river", "garden", "last",
    "silent", "secret", "king", "queen", "moon", "rain", "storm", "island", "road",
    "alive", "love", "ghost", "dragon", "wedding", "station", "letter", "red", "blue",
    "golden", "lost", "stranger", "midnight", "echoes", "heist", "robot", "witness",
]  # fmt: skip
BUSINESS_ANSWERS = {402, 409}
WAIT_ANSWERS = {429, 503}
MAX_RETRY_WAIT = 10  # seconds a simulated buyer is willing to wait before retrying

_films: list[int] = []
_films_lock = threading.Lock()


def films(client) -> list[int]:
    """Ids of films on sale, learned once per process from the first API pages."""
    with _films_lock:
        if not _films:
            for page in (1, 2, 3, 4, 5):
                response = client.get(
                    f"/api/vods/?page_size=100&page={page}", name="/api/vods/ (learn ids)"
                )
                if response.status_code != 200:
                    break
                body = response.json()
                _films.extend(v["id"] for v in body["results"])
                if not body["next"]:
                    break
        return _films


def popular(ids: list[int]) -> int:
    """A film id, the first ones (the newest) far more often than the rest."""
    return ids[min(int(random.paretovariate(1.2)) - 1, len(ids) - 1)]


class Browser(FastHttpUser):
    """An anonymous shopper looking around the catalog."""

    weight = 15
    wait_time = between(1, 5)

    def on_start(self) -> None:
        self.ids = films(self.client)

    @task(6)
    def storefront_catalog(self) -> None:
        page = random.choice([1, 1, 1, 2, 3])
        self.client.get(f"/?page={page}" if page > 1 else "/", name="/ (catalog)")

    @task(3)
    def storefront_search(self) -> None:
        self.client.get(f"/?q={random.choice(SEARCH_WORDS)}", name="/?q= (search)")

    @task(2)
    def storefront_genre(self) -> None:
        self.client.get(f"/?genre={random.choice(GENRES)}", name="/?genre=")

    @task(6)
    def storefront_film(self) -> None:
        if self.ids:
            self.client.get(f"/films/{popular(self.ids)}/", name="/films/[id]/")

    @task(3)
    def api_list(self) -> None:
        params = random.choice(
            ["", "?page=2", f"?genre={random.choice(GENRES)}", "?ordering=-release_year"]
        )
        self.client.get(f"/api/vods/{params}", name="/api/vods/")

    @task(2)
    def api_search(self) -> None:
        self.client.get(
            f"/api/vods/?search={random.choice(SEARCH_WORDS)}", name="/api/vods/?search="
        )

    @task(4)
    def api_film(self) -> None:
        if self.ids:
            self.client.get(f"/api/vods/{popular(self.ids)}/", name="/api/vods/[id]/")


class Buyer(FastHttpUser):
    """Signs up, browses, buys by card, spends points for free films, sometimes cancels."""

    weight = 1
    wait_time = between(2, 8)

    def on_start(self) -> None:
        self.ids = films(self.client)
        self.owned: set[int] = set()
        self.token = ""
        username = f"load-{uuid.uuid4().hex[:12]}"
        with self.client.post(
            "/api/auth/signup/",
            json={"username": username, "password": f"Pw-{uuid.uuid4().hex}"},
            name="/api/auth/signup/",
            catch_response=True,
        ) as response:
            if response.status_code == 201:
                self.token = response.json()["token"]
                response.success()
            else:
                response.failure(f"signup: {response.status_code} {response.text[:200]}")

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Token {self.token}"}

    def _answer(self, response, expected: int) -> bool:
        """Judge a write's answer; True when it did what was asked."""
        status = response.status_code
        if status == expected:
            response.success()
            return True
        if status in BUSINESS_ANSWERS:
            response.success()  # the store said no, clearly: a business answer
        elif status in WAIT_ANSWERS:
            response.success()  # "try again in N seconds": wait as asked
            wait = float(response.headers.get("Retry-After") or 1)
            time.sleep(min(wait, MAX_RETRY_WAIT))
        else:
            response.failure(f"{status}: {response.text[:200]}")
        return False

    def _buy(self, method: str) -> None:
        choices = [i for i in self.ids[:300] if i not in self.owned]
        if not self.token or not choices:
            return
        vod = popular(choices)
        with self.client.post(
            "/api/purchases/",
            json={"vod": vod, "payment_method": method},
            headers={**self.auth, "Idempotency-Key": uuid.uuid4().hex},
            name=f"/api/purchases/ ({method})",
            catch_response=True,
        ) as response:
            if self._answer(response, 201) or response.status_code == 409:
                self.owned.add(vod)  # bought now, or owned already

    @task(5)
    def browse(self) -> None:
        if self.ids:
            self.client.get(f"/api/vods/{popular(self.ids)}/", name="/api/vods/[id]/")
        self.client.get(f"/api/vods/?genre={random.choice(GENRES)}", name="/api/vods/")

    @task(3)
    def buy_by_card(self) -> None:
        self._buy("card")

    @task(2)
    def buy_with_points(self) -> None:
        if not self.token:
            return
        response = self.client.get("/api/mileage/", headers=self.auth, name="/api/mileage/")
        if response.status_code == 200:
            body = response.json()
            if body["balance"] >= body["free_vod_cost"]:
                self._buy("mileage")

    @task(2)
    def library(self) -> None:
        if self.token:
            self.client.get(
                "/api/purchases/?status=paid", headers=self.auth, name="/api/purchases/"
            )

    @task(1)
    def cancel_one(self) -> None:
        if not self.token:
            return
        response = self.client.get(
            "/api/purchases/?status=paid", headers=self.auth, name="/api/purchases/"
        )
        if response.status_code != 200 or not response.json()["results"]:
            return
        purchase = random.choice(response.json()["results"])
        with self.client.post(
            f"/api/purchases/{purchase['id']}/cancel/",
            headers=self.auth,
            name="/api/purchases/[id]/cancel/",
            catch_response=True,
        ) as answer:
            if self._answer(answer, 200):
                self.owned.discard(purchase["vod"])
