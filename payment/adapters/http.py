"""A processor over HTTP: the simulated processor run as its own process
(`python -m payment.simulator`), as the original design had payment as a service of
its own. `PAYMENT_GATEWAY_URL` says where; `PAYMENT_GATEWAY_TIMEOUT` bounds a call.

A timeout or a broken connection is a `GatewayError`: the operation may have happened,
and `lookup` with its key tells the reconciler which."""

import json
import time
import urllib.error
import urllib.parse
import urllib.request

from django.conf import settings

from payment.gateway import (
    Authorization,
    GatewayDeclined,
    GatewayError,
    GatewayRejected,
    OperationRecord,
)


class HttpGateway:
    name = "simulated-http"

    def __init__(self, url: str | None = None, timeout: float | None = None) -> None:
        self.url = (url or settings.PAYMENT_GATEWAY_URL).rstrip("/")
        self.timeout = timeout or settings.PAYMENT_GATEWAY_TIMEOUT

    def _request(self, path: str, body: dict | None = None) -> dict | None:
        if body is not None:
            # the processor drops the operation if it reaches it after we gave up
            body = {**body, "deadline": time.time() + self.timeout}
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(  # noqa: S310 - a configured http(s) URL
            self.url + path, data=data, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:200]
            if exc.code == 402:
                raise GatewayDeclined(detail) from exc
            if exc.code == 409:
                raise GatewayRejected(detail) from exc
            if exc.code == 404 and "no such operation" in detail:
                return None  # the processor never made it (not: a wrong URL)
            raise GatewayError(f"processor answered {exc.code}: {detail}") from exc
        except (OSError, ValueError) as exc:  # refused, reset, timed out, garbled
            raise GatewayError(f"processor unreachable: {exc}") from exc

    def authorize(self, *, amount: int, idempotency_key: str) -> Authorization:
        found = self._request("/authorize", {"key": idempotency_key, "amount": amount})
        return Authorization(reference=found["reference"], amount=found["amount"])

    def capture(self, *, reference: str, amount: int, idempotency_key: str) -> None:
        body = {"key": idempotency_key, "reference": reference, "amount": amount}
        self._request("/capture", body)

    def void(self, *, reference: str, idempotency_key: str) -> None:
        self._request("/void", {"key": idempotency_key, "reference": reference})

    def refund(self, *, reference: str, amount: int, idempotency_key: str) -> None:
        body = {"key": idempotency_key, "reference": reference, "amount": amount}
        self._request("/refund", body)

    def lookup(self, *, idempotency_key: str) -> OperationRecord | None:
        found = self._request(f"/operations/{urllib.parse.quote(idempotency_key, safe='')}")
        return OperationRecord.from_dict(found) if found else None

    def ledger(self) -> dict:
        return self._request("/ledger")
