"""English and Korean: the Korean catalogue is complete and compiled, every storefront page
and refusal reads in Korean once the visitor picks it, and prices stay ₩12,000 in both."""

import ast
import gettext
import re
import uuid
from html import unescape
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import translation

from purchase.services import purchase_cancel, purchase_create
from tests.conftest import make_vod
from vodstore.formatting import points, won

LOCALE_DIR = Path(settings.BASE_DIR) / "locale" / "ko" / "LC_MESSAGES"
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]")


# ---- The catalogue file --------------------------------------------------------------------


def read_po(path: Path) -> list[dict]:
    """The entries of a .po file: flags, msgid, msgid_plural and msgstr (or msgstr[n])."""
    entries = []
    for block in path.read_text(encoding="utf-8").strip().split("\n\n"):
        entry: dict = {"flags": set()}
        field = None
        for line in block.splitlines():
            if line.startswith("#,"):
                entry["flags"].update(flag.strip() for flag in line[2:].split(","))
            elif line.startswith("#"):
                continue
            elif line.startswith('"'):
                entry[field] += ast.literal_eval(line)
            else:
                field, _, value = line.partition(" ")
                entry[field] = ast.literal_eval(value)
        entries.append(entry)
    return entries


@pytest.fixture(scope="module")
def po_entries() -> list[dict]:
    return read_po(LOCALE_DIR / "django.po")


def test_the_korean_catalogue_has_korean_plural_forms(po_entries):
    header = po_entries[0]
    assert header["msgid"] == ""
    assert "Language: ko\n" in header["msgstr"]
    assert "Plural-Forms: nplurals=1; plural=0;\n" in header["msgstr"]
    assert "fuzzy" not in header["flags"]


def test_every_message_is_translated_and_none_is_fuzzy(po_entries):
    messages = po_entries[1:]
    assert len(messages) > 100  # the storefront's strings, not an empty file

    fuzzy = [e["msgid"] for e in messages if "fuzzy" in e["flags"]]
    untranslated = [
        e["msgid"] for e in messages if not all(e[k] for k in e if k.startswith("msgstr"))
    ]
    assert fuzzy == []
    assert untranslated == []


def test_translations_keep_every_placeholder(po_entries):
    for entry in po_entries[1:]:
        expected = sorted(PLACEHOLDER.findall(entry.get("msgid_plural", entry["msgid"])))
        for key in (k for k in entry if k.startswith("msgstr")):
            assert sorted(PLACEHOLDER.findall(entry[key])) == expected, entry["msgid"]
        if "<a " in entry["msgid"]:
            assert entry["msgstr"].count("<a ") == entry["msgid"].count("<a ")


def test_the_compiled_catalogue_matches_the_po_file(po_entries):
    """The .mo file is committed (no gettext needed to run the store): it must not lag."""
    with (LOCALE_DIR / "django.mo").open("rb") as mo:
        compiled = gettext.GNUTranslations(mo)
    for entry in po_entries[1:]:
        if "msgid_plural" in entry:
            for n in (1, 2, 5):
                assert (
                    compiled.ngettext(entry["msgid"], entry["msgid_plural"], n)
                    == (entry["msgstr[0]"])
                ), entry["msgid"]
        else:
            assert compiled.gettext(entry["msgid"]) == entry["msgstr"], entry["msgid"]


# ---- Prices and points ----------------------------------------------------------------------


@pytest.mark.parametrize("language", ["en", "ko"])
def test_prices_are_won_with_comma_grouping_in_both_languages(language):
    with translation.override(language):
        assert won(12000) == "₩12,000"
        assert won(1234567) == "₩1,234,567"
        assert won(-4500) == "-₩4,500"
        assert won(900) == "₩900"


def test_free_and_points_read_in_each_language():
    with translation.override("en"):
        assert (won(0), points(5000), points(1)) == ("Free", "5,000 points", "1 point")
    with translation.override("ko"):
        assert (won(0), points(5000), points(1)) == ("무료", "5,000 포인트", "1 포인트")


# ---- The pages in Korean --------------------------------------------------------------------


def text(response) -> str:
    """The page as a reader sees it: tags out, entities decoded, spaces collapsed."""
    without_tags = re.sub(r"<[^>]+>", " ", response.content.decode())
    return re.sub(r"\s+", " ", unescape(without_tags))


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


def switch_language(client, language: str) -> None:
    """Pick a language with the footer's switcher, as a visitor does."""
    response = client.post(reverse("set_language"), {"language": language, "next": "/"})
    assert response.status_code == 302
    assert client.cookies[settings.LANGUAGE_COOKIE_NAME].value == language


@pytest.fixture(autouse=True)
def back_to_the_default_language():
    """A request leaves its language active in the thread; later tests expect English."""
    yield
    translation.activate(settings.LANGUAGE_CODE)


@pytest.fixture
def korean(client):
    switch_language(client, "ko")
    return client


@pytest.fixture
def korean_member(korean, user):
    korean.force_login(user)
    return korean


def earn_points(committed, user, count: int) -> None:
    """`count` card purchases, 1,000 points each."""
    for _ in range(count):
        with committed():
            purchase_create(user_id=user.id, vod_id=make_vod().id)


def post_buy(client, committed, vod, method="card"):
    """Submit a film page's buy form and follow the redirect once the work has committed."""
    data = {"payment_method": method, "idempotency_key": str(uuid.uuid4())}
    with committed():
        posted = client.post(reverse("purchase:buy", args=[vod.id]), data)
    assert posted.status_code == 302
    return client.get(posted["Location"])


@pytest.mark.django_db
def test_the_catalog_in_korean(korean, vod):
    make_vod(title="Free Sample", price=0, genre="sci-fi")

    response = korean.get(reverse("catalog:list"))

    page = text(response)
    assert '<html lang="ko">' in response.content.decode()
    assert re.search(r"영화 \d+편", page)  # the count (the seed films are there too)
    for phrase in ("제목으로 검색", "전체 장르", "검색", "로그인", "회원가입", "언어"):
        assert phrase in page, phrase
    assert re.search(r"\d{4} · 드라마", page) and re.search(r"\d{4} · SF", page)  # labels
    assert '<option value="drama">드라마</option>' in response.content.decode()
    assert "₩4,500" in page and "무료" in page
    assert "The Harbor" in page and "Free Sample" in page  # titles are data, not translated
    assert "Films" not in page and "Search by title" not in page


@pytest.mark.django_db
def test_a_film_page_in_korean_with_the_buy_buttons(korean_member, vod):
    response = korean_member.get(reverse("catalog:detail", args=[vod.id]))

    page = text(response)
    for phrase in (
        "₩4,500 구매하기",
        "5,000 포인트로 구매",
        "현재 0 포인트를 보유하고 있으며, 포인트로 구매하려면 5,000 포인트가 필요합니다.",
        "카드로 결제하면 1,000 포인트가 적립됩니다.",
        "장르 드라마",
        "상영 시간 100분",
        "줄거리",
        "← 전체 영화",
        "내 보관함",
        "구매 내역",
        "내 마일리지",
        "로그아웃",
        "0 포인트",  # the header's balance
    ):
        assert phrase in page, phrase
    assert "A film." in page  # the synopsis is data
    assert "Buy for" not in page and "Use 5,000 points" not in page


@pytest.mark.django_db
def test_a_visitor_is_told_in_korean_to_log_in_to_buy(korean, vod):
    page = text(korean.get(reverse("catalog:detail", args=[vod.id])))

    assert "이 영화를 구매하려면 로그인 하거나 회원가입 하세요." in page
    assert "포인트는 로그인 후 사용할 수 있습니다." in page


@pytest.mark.django_db
def test_buying_watching_and_the_library_in_korean(korean_member, user, vod, committed):
    bought = post_buy(korean_member, committed, vod)

    assert messages_of(bought) == ["“The Harbor” 구매를 완료했습니다(₩4,500). 즐거운 감상 되세요!"]
    film = text(bought)
    assert "보관함에 있음" in film and "시청하기" in film and "구매 상세" in film

    library = text(korean_member.get(reverse("purchase:library")))
    assert "내 보관함" in library and "소장한 영화 1편" in library
    assert "The Harbor" in library and "시청하기" in library and "구매" in library

    watch = text(korean_member.get(reverse("purchase:watch", args=[vod.id])))
    assert "The Harbor 시청하기" in watch
    assert "이 영화는 아직 영상이 없습니다." in watch  # no video made for this film
    assert "구매일" in watch and "₩4,500" in watch


@pytest.mark.django_db
def test_an_empty_library_in_korean(korean_member):
    page = text(korean_member.get(reverse("purchase:library")))

    assert "아직 소장한 영화가 없습니다." in page and "영화 둘러보기" in page


@pytest.mark.django_db
def test_purchases_and_cancelling_in_korean(korean_member, user, committed):
    card = make_vod(title="By Card", price=12000)
    with committed():
        purchase = purchase_create(user_id=user.id, vod_id=card.id).purchase
    with committed():
        gone = purchase_create(user_id=user.id, vod_id=make_vod(title="Changed Mind").id)
    with committed():
        purchase_cancel(user_id=user.id, purchase_id=gone.purchase.id)

    listing = text(korean_member.get(reverse("purchase:list")))
    for phrase in ("구매 내역", "영화", "날짜", "결제 수단", "금액", "상태", "결제 완료", "취소됨"):
        assert phrase in listing, phrase
    assert "카드" in listing and "₩12,000" in listing and "취소…" in listing

    detail = text(korean_member.get(reverse("purchase:detail", args=[purchase.id])))
    assert "승인됨" in detail and "구매 번호" in detail and "구매 취소…" in detail

    confirm = text(korean_member.get(reverse("purchase:cancel", args=[purchase.id])))
    assert "“By Card” 구매를 취소할까요?" in confirm
    assert "결제 금액 ₩12,000은 카드로 환불됩니다." in confirm
    assert "네, 구매를 취소합니다" in confirm and "아니요, 유지할게요" in confirm

    with committed():
        posted = korean_member.post(reverse("purchase:cancel", args=[purchase.id]))
    cancelled = korean_member.get(posted["Location"])
    assert messages_of(cancelled) == [
        "“By Card” 구매를 취소했습니다. ₩12,000 카드 환불이 진행되며, "
        "이 구매로 적립된 1,000 포인트는 회수됩니다."
    ]


@pytest.mark.django_db
def test_the_mileage_page_in_korean(korean_member, user, committed):
    earn_points(committed, user, 5)
    with committed():
        purchase_create(user_id=user.id, vod_id=make_vod().id, payment_method="mileage")

    page = text(korean_member.get(reverse("mileage:summary")))

    for phrase in (
        "내 마일리지",
        "보유 포인트 0 포인트",
        "카드로 영화를 구매할 때마다 1,000 포인트가 적립됩니다.",
        "“5,000 포인트로 구매”",
        "내역",
        "구분",
        "적립",
        "사용",
        "+1,000 포인트",
        "-5,000 포인트",
        "구매 적립",  # a row names its film: "<title> 구매 적립"
    ):
        assert phrase in page, phrase
    assert "earned" not in page and "points" not in page


@pytest.mark.django_db
def test_login_and_signup_pages_in_korean(korean, user):
    login = text(korean.get(reverse("login")))
    assert "로그인" in login and "처음이신가요?" in login and "회원가입하기" in login
    assert "사용자 이름" in login and "비밀번호" in login  # Django's own Korean

    signup = text(korean.get(reverse("signup")))
    assert "계정 만들기" in signup and "이미 계정이 있으신가요?" in signup
    assert "영화를 구매할 때마다 포인트를 적립하고, 언제든 감상하세요." in signup

    form = {
        "username": "mina",
        "email": "mina@example.com",
        "password1": "a-long-pass-phrase",
        "password2": "a-long-pass-phrase",
    }
    welcomed = korean.post(reverse("signup"), form, follow=True)
    assert messages_of(welcomed) == ["mina님, 환영합니다! 계정이 만들어졌습니다."]


# ---- Refusals in Korean ---------------------------------------------------------------------


@pytest.mark.django_db
def test_already_owned_in_korean(korean_member, vod, committed):
    post_buy(korean_member, committed, vod)

    response = post_buy(korean_member, committed, vod)

    assert messages_of(response) == ["이미 소장하고 있는 영화입니다."]


@pytest.mark.django_db
def test_insufficient_points_in_korean(korean_member, user, vod, committed):
    earn_points(committed, user, 2)

    response = post_buy(korean_member, committed, vod, method="mileage")

    assert messages_of(response) == [
        "포인트가 부족합니다. 포인트로 구매하려면 5,000 포인트가 필요하지만 "
        "현재 2,000 포인트를 보유하고 있습니다."
    ]


@pytest.mark.django_db
def test_a_declined_card_in_korean(korean_member, vod, committed, gateway):
    gateway.decline = True

    response = post_buy(korean_member, committed, vod)

    assert messages_of(response) == ["카드 결제가 거절되었습니다. 청구된 금액은 없습니다."]


@pytest.mark.django_db
def test_payment_busy_in_korean_with_the_seconds(korean_member, committed, gateway):
    gateway.fail = True
    assert messages_of(post_buy(korean_member, committed, make_vod())) == [
        "결제가 혼잡합니다. 1초 후에 다시 시도해 주세요."
    ]
    for _ in range(settings.PAYMENT_GUARD["MINIMUM_CALLS"]):
        post_buy(korean_member, committed, make_vod())

    response = post_buy(korean_member, committed, make_vod())  # the breaker is open

    seconds = round(settings.PAYMENT_GUARD["OPEN_SECONDS"])
    assert messages_of(response) == [f"결제가 혼잡합니다. {seconds}초 후에 다시 시도해 주세요."]


@pytest.mark.django_db
def test_too_many_purchases_in_korean(korean_member, committed, monkeypatch, settings):
    settings.PURCHASE_RATE = "1/min"
    post_buy(korean_member, committed, make_vod())

    [message] = messages_of(post_buy(korean_member, committed, make_vod()))

    match = re.fullmatch(r"구매 요청이 너무 많습니다\. (\d+)초 후에 다시 시도해 주세요\.", message)
    assert match and 0 < int(match.group(1)) <= 60


@pytest.mark.django_db
def test_not_cancellable_in_korean(korean_member, user, committed):
    with committed():
        purchase = purchase_create(user_id=user.id, vod_id=make_vod().id).purchase
    with committed():
        purchase_cancel(user_id=user.id, purchase_id=purchase.id)

    response = korean_member.get(reverse("purchase:cancel", args=[purchase.id]), follow=True)

    assert messages_of(response) == [
        "이 구매는 취소할 수 없습니다. 결제 완료된 구매만 취소할 수 있습니다."
    ]


# ---- Choosing a language --------------------------------------------------------------------


@pytest.mark.django_db
def test_a_korean_browser_gets_korean_until_english_is_picked(client, vod):
    korean = client.get(reverse("catalog:list"), HTTP_ACCEPT_LANGUAGE="ko-KR,ko;q=0.9")
    assert '<html lang="ko">' in korean.content.decode() and re.search(r"영화 \d+편", text(korean))

    switch_language(client, "en")
    english = client.get(reverse("catalog:list"), HTTP_ACCEPT_LANGUAGE="ko-KR,ko;q=0.9")
    assert '<html lang="en">' in english.content.decode() and re.search(
        r"\d+ films?", text(english)
    )


@pytest.mark.django_db
def test_switching_back_to_english(korean_member, vod):
    film = reverse("catalog:detail", args=[vod.id])
    assert "₩4,500 구매하기" in text(korean_member.get(film))

    switch_language(korean_member, "en")

    page = text(korean_member.get(film))
    assert "Buy for ₩4,500" in page and "Use 5,000 points" in page
    assert "You have 0 points; a free film needs 5,000 points." in page
    assert "구매하기" not in page and "포인트" not in page
