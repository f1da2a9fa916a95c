"""The simulated card processor: its idempotent, durable ledger, its faults, and the
two adapters that reach it (in process, and as its own process over HTTP)."""

import json
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from payment import simulator
from payment.adapters.http import HttpGateway
from payment.adapters.simulated import SimulatedGateway
from payment.gateway import (
    Authorization,
    GatewayDeclined,
    GatewayError,
    GatewayRejected,
    OperationRecord,
)
from payment.simulator import Declined, Knobs, Processor, Rejected, Unavailable

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def ledger_path(tmp_path) -> str:
    return str(tmp_path / "gateway.sqlite3")


@pytest.fixture
def processor(ledger_path) -> Processor:
    return Processor(ledger_path)


def charges(processor: Processor) -> list[dict]:
    return processor.ledger()["charges"]


def operations(processor: Processor) -> list[dict]:
    return processor.ledger()["operations"]


def captured(processor: Processor, amount: int = 1000) -> str:
    reference = processor.authorize(key="auth", amount=amount)["reference"]
    processor.capture(key="capture", reference=reference, amount=amount)
    return reference


# --- the processor's books ------------------------------------------------------------


def test_the_same_key_authorizes_once(processor):
    first = processor.authorize(key="k1", amount=1000)
    second = processor.authorize(key="k1", amount=1000)
    assert first == second
    assert first["kind"] == "authorize" and first["outcome"] == "succeeded"
    assert first["reference"].startswith("sim_")
    [charge] = charges(processor)
    assert charge["reference"] == first["reference"]
    assert charge["amount"] == 1000 and charge["status"] == "authorized"
    assert len(operations(processor)) == 1


def test_another_key_is_another_charge(processor):
    first = processor.authorize(key="k1", amount=1000)
    second = processor.authorize(key="k2", amount=1000)
    assert first["reference"] != second["reference"]
    assert len(charges(processor)) == 2


def test_eight_threads_with_the_same_key_make_one_charge(processor):
    start = threading.Barrier(8)
    results: list[str] = []
    errors: list[BaseException] = []

    def buy() -> None:
        start.wait(5)
        try:
            results.append(processor.authorize(key="same", amount=1000)["reference"])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=buy) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert len(results) == 8
    assert len(set(results)) == 1  # every caller heard of the same charge
    [charge] = charges(processor)
    assert charge["reference"] == results[0]
    assert len(operations(processor)) == 1


def test_a_key_reused_for_another_amount_is_rejected(processor):
    first = processor.authorize(key="k1", amount=1000)
    with pytest.raises(Rejected):
        processor.authorize(key="k1", amount=2000)
    [charge] = charges(processor)
    assert charge["reference"] == first["reference"] and charge["amount"] == 1000
    assert processor.lookup(key="k1")["amount"] == 1000


def test_a_key_reused_for_another_operation_is_rejected(processor):
    reference = processor.authorize(key="k1", amount=1000)["reference"]
    with pytest.raises(Rejected):
        processor.capture(key="k1", reference=reference, amount=1000)
    [charge] = charges(processor)
    assert charge["status"] == "authorized"  # the reused key captured nothing
    assert [op["kind"] for op in operations(processor)] == ["authorize"]


def test_a_key_reused_for_another_reference_is_rejected(processor):
    one = processor.authorize(key="a1", amount=1000)["reference"]
    two = processor.authorize(key="a2", amount=1000)["reference"]
    processor.capture(key="cap", reference=one, amount=1000)
    with pytest.raises(Rejected):
        processor.capture(key="cap", reference=two, amount=1000)
    status = {c["reference"]: c["status"] for c in charges(processor)}
    assert status == {one: "captured", two: "authorized"}


def test_capture_is_idempotent_by_key(processor):
    reference = processor.authorize(key="auth", amount=1000)["reference"]
    first = processor.capture(key="cap", reference=reference, amount=1000)
    again = processor.capture(key="cap", reference=reference, amount=1000)
    assert first == again
    assert first["kind"] == "capture" and first["outcome"] == "succeeded"
    [charge] = charges(processor)
    assert charge["status"] == "captured"
    assert [op["kind"] for op in operations(processor)] == ["authorize", "capture"]


def test_a_second_capture_with_another_key_is_rejected(processor):
    reference = captured(processor)
    with pytest.raises(Rejected):
        processor.capture(key="cap-2", reference=reference, amount=1000)
    [charge] = charges(processor)
    assert charge["status"] == "captured" and charge["refunded"] == 0


def test_capture_of_another_amount_than_authorized_is_rejected(processor):
    reference = processor.authorize(key="auth", amount=1000)["reference"]
    with pytest.raises(Rejected):
        processor.capture(key="cap", reference=reference, amount=900)
    [charge] = charges(processor)
    assert charge["status"] == "authorized"


def test_void_is_idempotent_by_key(processor):
    reference = processor.authorize(key="auth", amount=1000)["reference"]
    first = processor.void(key="void", reference=reference)
    again = processor.void(key="void", reference=reference)
    assert first == again
    assert first["kind"] == "void" and first["outcome"] == "succeeded"
    [charge] = charges(processor)
    assert charge["status"] == "voided"
    assert [op["kind"] for op in operations(processor)] == ["authorize", "void"]


def test_a_refund_retried_with_its_key_refunds_once(processor):
    reference = captured(processor)
    first = processor.refund(key="refund", reference=reference, amount=1000)
    again = processor.refund(key="refund", reference=reference, amount=1000)
    assert first == again
    assert first["kind"] == "refund" and first["outcome"] == "succeeded"
    [charge] = charges(processor)
    assert charge["refunds"] == 1
    assert charge["refunded"] == 1000
    assert charge["status"] == "captured"


def test_a_second_refund_beyond_the_captured_amount_is_rejected(processor):
    reference = captured(processor)
    processor.refund(key="refund-1", reference=reference, amount=600)
    with pytest.raises(Rejected):
        processor.refund(key="refund-2", reference=reference, amount=600)
    [charge] = charges(processor)
    assert charge["refunds"] == 1 and charge["refunded"] == 600
    assert processor.lookup(key="refund-2")["outcome"] == "rejected"


def test_partial_refunds_up_to_the_captured_amount_are_accepted(processor):
    reference = captured(processor)
    processor.refund(key="refund-1", reference=reference, amount=600)
    processor.refund(key="refund-2", reference=reference, amount=400)
    [charge] = charges(processor)
    assert charge["refunds"] == 2 and charge["refunded"] == 1000


def test_refund_of_an_uncaptured_authorization_is_rejected(processor):
    reference = processor.authorize(key="auth", amount=1000)["reference"]
    with pytest.raises(Rejected):
        processor.refund(key="refund", reference=reference, amount=1000)
    [charge] = charges(processor)
    assert charge["refunds"] == 0 and charge["refunded"] == 0


def test_void_of_a_captured_charge_is_rejected(processor):
    reference = captured(processor)
    with pytest.raises(Rejected):
        processor.void(key="void", reference=reference)
    [charge] = charges(processor)
    assert charge["status"] == "captured"


def test_capture_of_a_voided_authorization_is_rejected(processor):
    reference = processor.authorize(key="auth", amount=1000)["reference"]
    processor.void(key="void", reference=reference)
    with pytest.raises(Rejected):
        processor.capture(key="cap", reference=reference, amount=1000)
    [charge] = charges(processor)
    assert charge["status"] == "voided"


def test_a_rejected_outcome_is_replayed_for_its_key(processor):
    reference = processor.authorize(key="auth", amount=1000)["reference"]
    processor.void(key="void", reference=reference)
    for _ in range(2):
        with pytest.raises(Rejected):
            processor.capture(key="cap", reference=reference, amount=1000)
    assert processor.lookup(key="cap")["outcome"] == "rejected"
    assert [c["status"] for c in charges(processor)] == ["voided"]


def test_operations_on_an_unknown_reference_are_rejected(processor):
    with pytest.raises(Rejected):
        processor.capture(key="cap", reference="sim_nothing", amount=1000)
    with pytest.raises(Rejected):
        processor.refund(key="refund", reference="sim_nothing", amount=1000)
    with pytest.raises(Rejected):
        processor.void(key="void", reference="sim_nothing")
    assert charges(processor) == []


def test_an_empty_key_or_a_negative_amount_is_rejected_and_recorded_nowhere(processor):
    with pytest.raises(Rejected):
        processor.authorize(key="", amount=1000)
    with pytest.raises(Rejected):
        processor.authorize(key="k1", amount=-1)
    assert charges(processor) == []
    assert operations(processor) == []


def test_lookup_returns_the_operation_or_none(processor):
    assert processor.lookup(key="k1") is None
    reference = processor.authorize(key="k1", amount=1000)["reference"]
    assert processor.lookup(key="k1") == {
        "key": "k1",
        "kind": "authorize",
        "outcome": "succeeded",
        "reference": reference,
        "amount": 1000,
        "detail": "",
    }
    assert processor.lookup(key="k2") is None


def test_an_uncaptured_authorization_expires(ledger_path):
    processor = Processor(ledger_path, Knobs(authorization_seconds=0))
    reference = processor.authorize(key="auth", amount=1000)["reference"]
    time.sleep(0.01)
    with pytest.raises(Rejected, match="expired"):
        processor.capture(key="cap", reference=reference, amount=1000)
    [charge] = charges(processor)
    assert charge["status"] == "expired"
    assert processor.lookup(key="cap")["outcome"] == "rejected"


def test_an_authorization_within_its_time_does_not_expire(ledger_path):
    processor = Processor(ledger_path, Knobs(authorization_seconds=60))
    reference = processor.authorize(key="auth", amount=1000)["reference"]
    processor.capture(key="cap", reference=reference, amount=1000)
    [charge] = charges(processor)
    assert charge["status"] == "captured"


def test_the_ledger_survives_a_new_processor_on_the_same_file(ledger_path):
    first = Processor(ledger_path)
    reference = first.authorize(key="auth", amount=1000)["reference"]
    first.capture(key="cap", reference=reference, amount=1000)
    first.refund(key="refund", reference=reference, amount=400)

    second = Processor(ledger_path)
    assert second.lookup(key="auth")["reference"] == reference
    assert second.authorize(key="auth", amount=1000)["reference"] == reference
    second.refund(key="refund", reference=reference, amount=400)
    [charge] = charges(second)
    assert charge["status"] == "captured"
    assert charge["refunds"] == 1 and charge["refunded"] == 400
    assert [op["kind"] for op in operations(second)] == ["authorize", "capture", "refund"]


def test_a_plain_failure_does_nothing(ledger_path):
    processor = Processor(ledger_path, Knobs(failure_rate=1))
    with pytest.raises(Unavailable) as failed:
        processor.authorize(key="k1", amount=1000)
    assert failed.value.done is False
    assert processor.lookup(key="k1") is None
    assert charges(processor) == []
    assert operations(processor) == []

    processor.knobs.failure_rate = 0  # the retry after the outage makes the one charge
    processor.authorize(key="k1", amount=1000)
    assert len(charges(processor)) == 1


def test_a_lost_answer_happened_and_its_retry_answers_the_first_result(ledger_path):
    processor = Processor(ledger_path, Knobs(lost_answer_rate=1))
    with pytest.raises(Unavailable) as lost:
        processor.authorize(key="k1", amount=1000)
    assert lost.value.done is True
    found = processor.lookup(key="k1")
    assert found is not None
    assert found["kind"] == "authorize" and found["outcome"] == "succeeded"
    [charge] = charges(processor)
    assert charge["reference"] == found["reference"]

    processor.knobs.lost_answer_rate = 0
    again = processor.authorize(key="k1", amount=1000)
    assert again == found
    assert len(charges(processor)) == 1
    assert len(operations(processor)) == 1


def test_a_lost_refund_answer_refunded_once_and_its_retry_does_not_refund_again(ledger_path):
    processor = Processor(ledger_path)
    reference = captured(processor)
    processor.knobs.lost_answer_rate = 1
    with pytest.raises(Unavailable) as lost:
        processor.refund(key="refund", reference=reference, amount=1000)
    assert lost.value.done is True
    processor.knobs.lost_answer_rate = 0
    processor.refund(key="refund", reference=reference, amount=1000)
    [charge] = charges(processor)
    assert charge["refunds"] == 1 and charge["refunded"] == 1000


def test_a_decline_is_replayed_for_its_key(ledger_path):
    processor = Processor(ledger_path, Knobs(decline_rate=1))
    with pytest.raises(Declined):
        processor.authorize(key="k1", amount=1000)
    assert processor.lookup(key="k1")["outcome"] == "declined"
    assert charges(processor) == []

    processor.knobs.decline_rate = 0  # the same key still answers the first outcome
    with pytest.raises(Declined):
        processor.authorize(key="k1", amount=1000)
    assert charges(processor) == []
    assert len(operations(processor)) == 1
    processor.authorize(key="k2", amount=1000)  # a new attempt is a new key
    assert len(charges(processor)) == 1


def test_knobs_update_parses_values_and_refuses_unknown_knobs():
    knobs = Knobs()
    knobs.update({"latency_ms": "600-900", "failure_rate": "0.5", "authorization_seconds": 3})
    assert knobs.latency_ms == (600.0, 900.0)
    assert knobs.failure_rate == 0.5
    assert knobs.authorization_seconds == 3.0
    with pytest.raises(ValueError):
        knobs.update({"nonsense": 1})
    assert simulator.parse_latency("50") == (50.0, 50.0)


# --- the processor as its own process, over HTTP ----------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - localhost
        return json.loads(response.read())


def post(url: str, body: dict) -> dict:
    request = urllib.request.Request(  # noqa: S310 - localhost
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=2) as response:  # noqa: S310 - localhost
        return json.loads(response.read())


class ProcessorProcess:
    """Starts `python -m payment.simulator` on a ledger file; kills what it started."""

    def __init__(self, ledger: Path) -> None:
        self.ledger = ledger
        self.procs: list[subprocess.Popen] = []
        self.proc: subprocess.Popen | None = None
        self.url = ""

    def start(self) -> str:
        port = free_port()
        self.proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [
                sys.executable,
                "-m",
                "payment.simulator",
                "--port",
                str(port),
                "--ledger",
                str(self.ledger),
            ],
            cwd=PROJECT_ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.procs.append(self.proc)
        self.url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 10
        while True:
            try:
                if get(self.url + "/healthz") == {"status": "ok"}:
                    return self.url
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the processor did not start on {self.url}")
            time.sleep(0.05)

    def crash(self) -> None:
        self.proc.kill()  # SIGKILL: no clean shutdown of anything
        self.proc.wait(5)

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(5)


@pytest.fixture
def processor_process(tmp_path):
    process = ProcessorProcess(tmp_path / "g.sqlite3")
    try:
        yield process
    finally:
        process.stop_all()


@pytest.fixture
def http_gateway(processor_process) -> HttpGateway:
    return HttpGateway(url=processor_process.start(), timeout=2)


def test_http_authorize_capture_refund_lookup_round_trip(http_gateway):
    authorization = http_gateway.authorize(amount=1000, idempotency_key="auth")
    assert isinstance(authorization, Authorization)
    assert authorization.amount == 1000 and authorization.reference.startswith("sim_")
    reference = authorization.reference
    assert http_gateway.authorize(amount=1000, idempotency_key="auth") == authorization
    http_gateway.capture(reference=reference, amount=1000, idempotency_key="cap")
    http_gateway.capture(reference=reference, amount=1000, idempotency_key="cap")
    http_gateway.refund(reference=reference, amount=1000, idempotency_key="refund")
    http_gateway.refund(reference=reference, amount=1000, idempotency_key="refund")

    assert http_gateway.lookup(idempotency_key="auth") == OperationRecord(
        key="auth", kind="authorize", outcome="succeeded", reference=reference, amount=1000
    )
    assert http_gateway.lookup(idempotency_key="refund") == OperationRecord(
        key="refund", kind="refund", outcome="succeeded", reference=reference, amount=1000
    )
    ledger = http_gateway.ledger()
    [charge] = ledger["charges"]
    assert charge["reference"] == reference and charge["status"] == "captured"
    assert charge["refunds"] == 1 and charge["refunded"] == 1000
    assert [op["kind"] for op in ledger["operations"]] == ["authorize", "capture", "refund"]


def test_http_void(http_gateway):
    reference = http_gateway.authorize(amount=1000, idempotency_key="auth").reference
    http_gateway.void(reference=reference, idempotency_key="void")
    http_gateway.void(reference=reference, idempotency_key="void")
    [charge] = http_gateway.ledger()["charges"]
    assert charge["status"] == "voided"


def test_http_lookup_of_an_unknown_key_is_none(http_gateway):
    assert http_gateway.lookup(idempotency_key="never-used") is None


def test_http_decline_is_gateway_declined(http_gateway):
    post(http_gateway.url + "/control", {"decline_rate": 1})
    with pytest.raises(GatewayDeclined):
        http_gateway.authorize(amount=1000, idempotency_key="auth")
    assert http_gateway.lookup(idempotency_key="auth").outcome == "declined"
    assert http_gateway.ledger()["charges"] == []


def test_http_rejection_is_gateway_rejected(http_gateway):
    reference = http_gateway.authorize(amount=1000, idempotency_key="auth").reference
    http_gateway.void(reference=reference, idempotency_key="void")
    with pytest.raises(GatewayRejected):
        http_gateway.capture(reference=reference, amount=1000, idempotency_key="cap")
    with pytest.raises(GatewayRejected):
        http_gateway.authorize(amount=2000, idempotency_key="auth")  # the key, reused
    [charge] = http_gateway.ledger()["charges"]
    assert charge["status"] == "voided"


def test_http_failure_is_gateway_error_and_does_nothing(http_gateway):
    post(http_gateway.url + "/control", {"failure_rate": 1})
    with pytest.raises(GatewayError):
        http_gateway.authorize(amount=1000, idempotency_key="auth")
    assert http_gateway.lookup(idempotency_key="auth") is None
    assert http_gateway.ledger()["charges"] == []


def test_http_lost_answer_is_gateway_error_but_the_charge_was_made(http_gateway):
    post(http_gateway.url + "/control", {"lost_answer_rate": 1})
    with pytest.raises(GatewayError):
        http_gateway.authorize(amount=1000, idempotency_key="auth")
    found = http_gateway.lookup(idempotency_key="auth")
    assert found is not None and found.outcome == "succeeded"
    post(http_gateway.url + "/control", {"lost_answer_rate": 0})
    assert http_gateway.authorize(amount=1000, idempotency_key="auth").reference == (
        found.reference
    )
    assert len(http_gateway.ledger()["charges"]) == 1


def test_http_timeout_is_gateway_error_and_the_late_call_is_not_made(http_gateway):
    post(http_gateway.url + "/control", {"latency_ms": "600"})
    impatient = HttpGateway(url=http_gateway.url, timeout=0.2)
    started = time.monotonic()
    with pytest.raises(GatewayError):
        impatient.authorize(amount=1000, idempotency_key="slow")
    assert time.monotonic() - started < 0.55  # it gave up, it did not wait for the answer
    time.sleep(0.8)  # the processor is done with the abandoned call by now

    assert http_gateway.lookup(idempotency_key="slow") is None, "past its deadline"
    assert http_gateway.ledger()["charges"] == []
    post(http_gateway.url + "/control", {"latency_ms": "0"})
    retried = http_gateway.authorize(amount=1000, idempotency_key="slow")
    assert http_gateway.authorize(amount=1000, idempotency_key="slow") == retried
    assert len(http_gateway.ledger()["charges"]) == 1


def test_the_ledger_survives_a_crash_of_the_processor_process(processor_process):
    gateway = HttpGateway(url=processor_process.start(), timeout=2)
    reference = gateway.authorize(amount=1000, idempotency_key="auth").reference
    gateway.capture(reference=reference, amount=1000, idempotency_key="cap")

    processor_process.crash()
    with pytest.raises(GatewayError):  # nobody listens on the old port now
        gateway.lookup(idempotency_key="auth")

    gateway = HttpGateway(url=processor_process.start(), timeout=2)
    assert gateway.lookup(idempotency_key="auth") == OperationRecord(
        key="auth", kind="authorize", outcome="succeeded", reference=reference, amount=1000
    )
    assert gateway.lookup(idempotency_key="cap").kind == "capture"
    assert gateway.authorize(amount=1000, idempotency_key="auth").reference == reference
    gateway.capture(reference=reference, amount=1000, idempotency_key="cap")
    ledger = gateway.ledger()
    [charge] = ledger["charges"]
    assert charge["reference"] == reference and charge["status"] == "captured"
    assert [op["kind"] for op in ledger["operations"]] == ["authorize", "capture"]


def test_http_connection_refused_is_gateway_error():
    gateway = HttpGateway(url=f"http://127.0.0.1:{free_port()}", timeout=2)
    with pytest.raises(GatewayError):
        gateway.authorize(amount=1000, idempotency_key="auth")
    with pytest.raises(GatewayError):
        gateway.lookup(idempotency_key="auth")


def test_the_processor_answers_bad_requests_with_400(processor_process):
    url = processor_process.start()
    with pytest.raises(urllib.error.HTTPError) as bad:
        post(url + "/authorize", {"amount": 1000})  # no key
    assert bad.value.code == 400
    with pytest.raises(urllib.error.HTTPError) as bad:
        post(url + "/control", {"nonsense": 1})
    assert bad.value.code == 400
    assert get(url + "/ledger") == {"charges": [], "operations": []}


# --- the in-process adapter -------------------------------------------------------------


def test_simulated_gateway_round_trip_and_lookup(ledger_path):
    gateway = SimulatedGateway(ledger=ledger_path, knobs=Knobs())
    authorization = gateway.authorize(amount=1000, idempotency_key="auth")
    assert gateway.authorize(amount=1000, idempotency_key="auth") == authorization
    gateway.capture(reference=authorization.reference, amount=1000, idempotency_key="cap")
    gateway.refund(reference=authorization.reference, amount=1000, idempotency_key="refund")
    gateway.refund(reference=authorization.reference, amount=1000, idempotency_key="refund")
    assert gateway.lookup(idempotency_key="auth") == OperationRecord(
        key="auth",
        kind="authorize",
        outcome="succeeded",
        reference=authorization.reference,
        amount=1000,
    )
    assert gateway.lookup(idempotency_key="unknown") is None
    [charge] = gateway.ledger()["charges"]
    assert charge["refunds"] == 1 and charge["refunded"] == 1000


def test_simulated_gateway_maps_a_decline_to_gateway_declined(ledger_path):
    gateway = SimulatedGateway(ledger=ledger_path, knobs=Knobs(decline_rate=1))
    with pytest.raises(GatewayDeclined):
        gateway.authorize(amount=1000, idempotency_key="auth")
    assert gateway.lookup(idempotency_key="auth").outcome == "declined"
    assert gateway.ledger()["charges"] == []


def test_simulated_gateway_maps_a_rejection_to_gateway_rejected(ledger_path):
    gateway = SimulatedGateway(ledger=ledger_path, knobs=Knobs())
    reference = gateway.authorize(amount=1000, idempotency_key="auth").reference
    gateway.void(reference=reference, idempotency_key="void")
    with pytest.raises(GatewayRejected):
        gateway.capture(reference=reference, amount=1000, idempotency_key="cap")
    [charge] = gateway.ledger()["charges"]
    assert charge["status"] == "voided"


def test_simulated_gateway_maps_unavailable_to_gateway_error(ledger_path):
    gateway = SimulatedGateway(ledger=ledger_path, knobs=Knobs(failure_rate=1))
    with pytest.raises(GatewayError):
        gateway.authorize(amount=1000, idempotency_key="auth")
    assert gateway.lookup(idempotency_key="auth") is None

    gateway.knobs.failure_rate = 0
    gateway.knobs.lost_answer_rate = 1
    with pytest.raises(GatewayError):
        gateway.authorize(amount=1000, idempotency_key="lost")
    found = gateway.lookup(idempotency_key="lost")
    assert isinstance(found, OperationRecord) and found.outcome == "succeeded"
    assert len(gateway.ledger()["charges"]) == 1


def test_an_operation_reaching_the_processor_after_its_deadline_is_not_made(ledger_path):
    slow = Processor(ledger_path, Knobs(latency_ms=(200.0, 200.0)))

    with pytest.raises(Unavailable) as raised:
        slow.authorize(key="late", amount=5000, deadline=time.time() + 0.05)

    assert raised.value.done is False
    assert slow.lookup(key="late") is None, "after the deadline, a lookup is final"
    assert slow.ledger()["charges"] == []
    assert slow.authorize(key="in-time", amount=5000, deadline=time.time() + 5)["reference"]


def test_a_lookup_past_the_deadline_waits_for_a_call_that_passed_its_check(
    ledger_path, monkeypatch
):
    """A call checked its deadline in time but commits after it (a slow disk, a busy
    machine): a lookup made in between must not say "not made" — it waits for the
    commit and finds the charge. (Found by `make faults`: an authorization the store
    had written off as never made, left held.)"""
    processor = Processor(ledger_path, Knobs())
    real = processor._authorize

    def slow_effect(db, amount, reference, now):
        time.sleep(0.6)  # past the deadline, inside the ledger's write transaction
        return real(db, amount, reference, now)

    monkeypatch.setattr(processor, "_authorize", slow_effect)
    deadline = time.time() + 0.2
    call = threading.Thread(
        target=processor.authorize, kwargs={"key": "k", "amount": 100, "deadline": deadline}
    )
    call.start()
    time.sleep(0.35)  # the deadline has passed; the call is inside its transaction
    found = Processor(ledger_path, Knobs()).lookup(key="k")  # another process's view
    call.join()
    assert found is not None and found["outcome"] == "succeeded"
