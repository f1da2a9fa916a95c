"""Watching in Debian's Chromium: the owner plays the feature and it advances, seeking
works, the position is saved and resumed; someone else's Watch URL plays nothing; the
trailer plays for anyone. Real clips (H.264/AAC MP4, made by catalog.media), short."""

import pytest
from django.test import override_settings
from playwright.sync_api import Page, expect

from catalog.media import vod_media_generate
from purchase.models import WatchProgress
from tests.browser.test_journeys import buy_by_card, log_in
from tests.conftest import make_user, make_vod

PHONE = {"width": 390, "height": 844}
FEATURE_SECONDS, TRAILER_SECONDS = 8.0, 4.0


@pytest.fixture
def film(transactional_db, tmp_path):
    with override_settings(MEDIA_ROOT=str(tmp_path / "media")):
        vod = make_vod(title="Harbour Lights", price=4000)
        vod_media_generate(
            vod_id=vod.id, feature_seconds=FEATURE_SECONDS, trailer_seconds=TRAILER_SECONDS
        )
        yield vod


def leave(page: Page) -> None:
    """Leave the page before the test's database is emptied: the player saves the
    position when the page is hidden, and a save (or a Range request) arriving while
    the tables are being truncated deadlocks PostgreSQL. Later saves are dropped."""
    page.route("**/api/progress/**", lambda route: route.abort())
    page.goto("about:blank")


def play(page: Page, selector: str = "video") -> None:
    """Press play as a person would (a click on the player), then wait for it to run."""
    video = page.locator(selector)
    video.scroll_into_view_if_needed()
    video.click()
    page.evaluate(  # the click gave the page the user's gesture that play() needs
        "(selector) => { const v = document.querySelector(selector); if (v.paused) v.play(); }",
        selector,
    )
    # a machine busy with other work decodes and serves slowly: up to 30 s, not 10
    page.wait_for_function(
        f"() => document.querySelector('{selector}').currentTime > 0.5", timeout=30_000
    )


def test_the_owner_plays_seeks_and_resumes_the_feature(page: Page, film, gateway, screenshot):
    make_user("hana")
    log_in(page, "hana")
    buy_by_card(page, film)
    page.goto(f"/films/{film.pk}/watch/")
    expect(page.locator("video")).to_be_visible()
    play(page)
    time_now = page.evaluate("() => document.querySelector('video').currentTime")
    page.wait_for_function(f"() => document.querySelector('video').currentTime > {time_now}")
    screenshot(page, "watch")
    # seeking: to six seconds in, and it plays on from there
    page.evaluate(
        "() => new Promise(done => { const v = document.querySelector('video');"
        " v.addEventListener('seeked', done, {once: true}); v.currentTime = 6; })"
    )
    assert page.evaluate("() => document.querySelector('video').currentTime") >= 5.9
    page.evaluate("() => document.querySelector('video').pause()")  # the player saves on pause
    progress = None
    for _ in range(50):
        progress = WatchProgress.objects.filter(purchase__vod_id=film.id).first()
        if progress is not None and progress.position_seconds >= 5.9:
            break
        page.wait_for_timeout(100)
    assert progress is not None and progress.position_seconds >= 5.9
    # back later: it resumes there
    page.goto("/library/")
    expect(page.locator(".continue-watching")).to_contain_text("Harbour Lights")
    page.goto(f"/films/{film.pk}/watch/")
    page.wait_for_function("() => document.querySelector('video').readyState >= 1")
    page.wait_for_function("() => document.querySelector('video').currentTime >= 5.5")
    leave(page)


def test_the_watch_page_on_a_phone(page: Page, film, gateway, screenshot):
    page.set_viewport_size(PHONE)
    make_user("minseo")
    log_in(page, "minseo")
    buy_by_card(page, film)
    page.goto(f"/films/{film.pk}/watch/")
    play(page)
    box = page.locator("video").bounding_box()
    assert box is not None and box["width"] <= PHONE["width"]
    screenshot(page, "watch-phone")
    leave(page)


def test_someone_elses_watch_url_plays_nothing(browser, live_server, film, gateway):
    owner = browser.new_context(base_url=live_server.url)
    stranger = browser.new_context(base_url=live_server.url)
    try:
        mine, theirs = owner.new_page(), stranger.new_page()
        make_user("owner")
        make_user("stranger")
        log_in(mine, "owner")
        buy_by_card(mine, film)
        mine.goto(f"/films/{film.pk}/watch/")
        src = mine.locator("video").get_attribute("src")
        log_in(theirs, "stranger")
        theirs.goto(f"/films/{film.pk}/watch/")  # not theirs: sent to the film page
        expect(theirs.locator("video.player__video")).to_have_count(0)
        status = theirs.evaluate(f"() => fetch('{src}').then(r => r.status)")
        assert status in (403, 404)
        # the owner's signed address inside the stranger's page plays nothing
        theirs.set_content(f'<video src="{live_server.url}{src}" muted></video>')
        theirs.wait_for_function("() => document.querySelector('video').error !== null")
    finally:
        for ctx in (owner, stranger):
            for opened in ctx.pages:
                leave(opened)
            ctx.close()


def test_the_trailer_plays_for_anyone(page: Page, film):
    page.goto(f"/films/{film.pk}/")
    play(page, ".trailer__video")
    leave(page)
