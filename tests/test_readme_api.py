"""The README's "Use the API" session, run as written (bash and curl) against a live
server, step by step: what a newcomer pastes must do what the README says."""

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from mileage.models import MileageEntry
from mileage.rest import SUMMARY_EXAMPLE
from payment.models import Payment
from payment.rest import PAYMENT_EXAMPLE
from purchase.models import Purchase
from purchase.rest import PURCHASE_EXAMPLE
from tests.conftest import assert_books_balance, make_vod
from vodstore.accounts import SIGNUP_EXAMPLES

README = Path(__file__).resolve().parent.parent / "README.md"
BASE = "http://127.0.0.1:8000"
STEP_END = "@@step-end@@"

pytestmark = pytest.mark.skipif(
    not (shutil.which("bash") and shutil.which("curl") and shutil.which("python3")),
    reason="the README's session needs bash, curl and python3",
)


def readme_session() -> str:
    """The ```sh block under "## Use the API"."""
    text = README.read_text()
    section = text.split("\n## Use the API\n", 1)[1].split("\n## ", 1)[0]
    (block,) = re.findall(r"^```sh\n(.*?)^```$", section, flags=re.MULTILINE | re.DOTALL)
    return block


def steps(session: str) -> tuple[str, dict[int, str]]:
    """The lines before the first numbered step, and each step (`# 1. ...`) by number."""
    parts = re.split(r"^# (\d+)\. ", session, flags=re.MULTILINE)
    numbered = zip(parts[1::2], parts[2::2], strict=True)
    return parts[0], {int(number): f"# {body}" for number, body in numbered}


def run_session(session: str) -> dict[int, tuple[int, str]]:
    """Each step's exit status and output, run in one bash (so its variables carry on)."""
    setup, numbered = steps(session)
    script = setup + "".join(
        f"{body}\nprintf '\\n{STEP_END} %s %s\\n' {number} $?\n"
        for number, body in numbered.items()
    )
    done = subprocess.run(  # noqa: S603 - the README's own block
        ["bash", "-c", script],  # noqa: S607 - whichever bash a reader has
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0 and not done.stderr, done.stderr
    outputs: dict[int, tuple[int, str]] = {}
    text = done.stdout
    for match in re.finditer(rf"\n{STEP_END} (\d+) (\d+)\n", done.stdout):
        before, text = text.split(match.group(0), 1)
        outputs[int(match.group(1))] = (int(match.group(2)), before)
    assert list(outputs) == list(numbered), done.stdout
    return outputs


def json_lines(output: str) -> list[dict]:
    """The JSON answers in a step's output (curl prints each with no line end after)."""
    decoder, found, at = json.JSONDecoder(), [], 0
    while (start := output.find("{", at)) != -1:
        value, at = decoder.raw_decode(output, start)
        found.append(value)
    return found


def test_the_readme_has_the_session():
    session = readme_session()

    assert BASE in session
    assert list(steps(session)[1]) == list(range(1, 9))
    assert "Idempotency-Key: $KEY" in session  # purchase/rest.py reads this header


@pytest.mark.django_db(transaction=True)
def test_the_readme_api_session_runs_as_written(live_server, gateway, settings):
    settings.ALLOWED_HOSTS = ["*"]
    film = make_vod(title="The Cheapest Film", price=1000)
    make_vod(title="A Dearer Film", price=9000)
    session = readme_session().replace(BASE, live_server.url)

    out = run_session(session)

    # every step succeeded (curl --fail-with-body: no 4xx or 5xx)
    assert all(status == 0 for status, _ in out.values()), out
    # 1. signed up, with a token
    (signed_up,) = json_lines(out[1][1])
    assert signed_up["username"] == "mina" and signed_up["token"]
    # 2. a token: step 3 onwards use it
    # 3. the films, cheapest first
    (films,) = json_lines(out[3][1])
    assert films["results"][0]["id"] == film.id
    # 4. bought
    (bought,) = json_lines(out[4][1])
    assert bought["vod"] == film.id and bought["status"] == "paid"
    assert bought["payment"]["status"] == "approved" and bought["amount"] == 1000
    # 5. the retry is the first answer replayed, nothing charged twice
    assert out[5][1].startswith("HTTP/1.1 201")
    assert re.search(r"^Idempotent-Replayed: true\r?$", out[5][1], flags=re.MULTILINE | re.I)
    (replayed,) = json_lines(out[5][1].split("\n\n", 1)[1])  # (text mode: no \r)
    assert replayed == bought
    assert len(gateway.charges) == 1
    # 6. its payment, and the points it earned
    payments, mileage = json_lines(out[6][1])
    assert payments["count"] == 1 and payments["results"][0]["status"] == "approved"
    assert payments["results"][0]["purchase"] == bought["id"]
    assert mileage["balance"] == settings.MILEAGE_EARN_PER_PURCHASE
    # 7. cancelled: refunded, points taken back
    cancelled, payments, mileage = json_lines(out[7][1])
    assert cancelled["id"] == bought["id"] and cancelled["status"] == "cancelled"
    assert payments["results"][0]["status"] == "cancelled"
    assert mileage["balance"] == 0
    # 8. logged out
    assert out[8][1].strip() == "204"

    # the OpenAPI examples have the shape of these real answers
    assert bought.keys() == PURCHASE_EXAMPLE.keys() and cancelled.keys() == PURCHASE_EXAMPLE.keys()
    assert payments["results"][0].keys() == PAYMENT_EXAMPLE.keys()
    assert mileage.keys() == SUMMARY_EXAMPLE.keys()
    assert signed_up.keys() == SIGNUP_EXAMPLES[1].value.keys()

    purchase = Purchase.objects.get(pk=bought["id"])
    assert purchase.status == "cancelled" and purchase.user.username == "mina"
    assert Payment.objects.get(purchase_id=purchase.id).status == "cancelled"
    assert MileageEntry.objects.filter(purchase_id=purchase.id).count() == 2
    assert gateway.refunds == [gateway.charges[0][0]]
    assert_books_balance()
