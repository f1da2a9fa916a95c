"""Accounts in a real browser (Chromium) against the live server: sign up with an
e-mail address, the log-out message, a forgotten password reset through a real SMTP
server (the browser follows the link from the received message), the account page, and
closing an account. Saves account.png, password-reset.png and signup.png."""

import re

from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from tests.browser.test_journeys import PASSWORD, fill_login, label, log_in, success
from tests.conftest import make_user
from tests.smtp import reset_link, smtp_server

NEW_PASSWORD = "a-brand-new-pass-phrase"


def info(page: Page):
    return page.locator(".messages .message--info")


def heading(page: Page):
    return page.get_by_role("heading", level=1)


def test_sign_up_with_an_address_then_log_out(page: Page, transactional_db, screenshot):
    page.goto("/accounts/signup/")
    form = page.locator("form.stacked-form")
    form.get_by_label(label("Username")).fill("minji")
    form.get_by_label(label("E-mail address")).fill("Minji@Example.com")
    form.get_by_label(label("Password")).fill(PASSWORD)
    form.get_by_label(label("Password confirmation")).fill(PASSWORD)
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, "signup")
    form.get_by_role("button", name="Sign up").click()

    expect(success(page)).to_have_text("Welcome, minji! Your account is ready.")
    assert User.objects.get(username="minji").email == "Minji@example.com"

    page.get_by_role("button", name="Log out").click()
    expect(info(page)).to_have_text("You are signed out.")
    expect(page.locator(".site-header").get_by_role("link", name="Log in")).to_be_visible()


def test_a_weak_password_is_told_under_the_password(page: Page, transactional_db):
    page.goto("/accounts/signup/")
    form = page.locator("form.stacked-form")
    form.get_by_label(label("Username")).fill("minji")
    form.get_by_label(label("E-mail address")).fill("minji@example.com")
    form.get_by_label(label("Password")).fill("short")
    form.get_by_label(label("Password confirmation")).fill("short")
    form.get_by_role("button", name="Sign up").click()

    password_field = page.locator(".field").filter(has=page.locator("#id_password1"))
    expect(password_field.locator(".field__error").first).to_contain_text("too short")
    expect(
        page.locator(".field").filter(has=page.locator("#id_password2")).locator(".field__error")
    ).to_have_count(0)
    # what was right is still there
    expect(page.get_by_label(label("E-mail address"))).to_have_value("minji@example.com")


def test_a_forgotten_password_by_e_mail_through_a_real_smtp_server(
    page: Page, transactional_db, screenshot
):
    make_user("mina", email="mina@example.com")

    with smtp_server() as mailbox:
        page.goto("/accounts/login/")
        page.get_by_role("link", name="Forgot your password?").click()
        expect(heading(page)).to_have_text("Forgot your password?")
        page.get_by_label(label("E-mail address")).fill("mina@example.com")
        screenshot(page, "password-reset")
        page.get_by_role("button", name="Send me a link").click()
        expect(heading(page)).to_have_text("Check your e-mail")
        message = mailbox.next_message()

    assert message["To"] == "mina@example.com"
    page.goto(reset_link(message))
    expect(heading(page)).to_have_text("Choose a new password")
    page.get_by_label(label("New password")).fill(NEW_PASSWORD)
    page.get_by_label(label("New password confirmation")).fill(NEW_PASSWORD)
    page.get_by_role("button", name="Set password").click()

    expect(success(page)).to_have_text("Your password is set. You can log in with it now.")
    page.locator("main").get_by_role("link", name="Log in").click()
    form = page.locator("form.stacked-form")
    form.get_by_label(label("Username")).fill("mina")
    form.get_by_label(label("Password")).fill(NEW_PASSWORD)
    form.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()


def test_the_account_page_changes_the_address_and_signs_out_everywhere(
    page: Page, transactional_db, screenshot
):
    make_user("mina", email="mina@example.com")
    log_in(page, "mina")

    page.locator(".site-header").get_by_role("link", name=re.compile("mina")).click()
    expect(heading(page)).to_have_text("Your account")
    screenshot(page, "account")
    page.get_by_role("textbox", name=label("E-mail address")).fill("mina@new.example")
    page.get_by_label(label("Your password")).fill(PASSWORD)
    page.get_by_role("button", name="Save e-mail address").click()
    expect(success(page)).to_have_text("Your e-mail address is now mina@new.example.")

    page.get_by_role("button", name="Sign out everywhere").click()
    expect(info(page).first).to_be_visible()
    expect(page.locator(".messages")).to_contain_text(
        "Every device and API token of your account is signed out."
    )
    expect(page.locator(".site-header").get_by_role("link", name="Log in")).to_be_visible()


def test_deleting_an_account(page: Page, transactional_db):
    mina = make_user("mina", email="mina@example.com")
    log_in(page, "mina")

    page.goto("/accounts/")
    page.get_by_role("link", name="Delete my account").click()
    expect(heading(page)).to_have_text("Delete my account")
    expect(page.locator(".consequences")).to_contain_text("The store keeps its books")
    page.get_by_label(label("Your password")).fill("wrong-password")
    page.get_by_role("button", name="Delete my account").click()
    expect(page.locator(".field__error")).to_have_text("This is not your password.")
    page.get_by_label(label("Your password")).fill(PASSWORD)
    page.get_by_role("button", name="Delete my account").click()

    expect(success(page)).to_have_text("Your account is closed. Thank you for watching.")
    assert User.objects.get(pk=mina.pk).username == f"deleted-{mina.pk}"
    page.goto("/accounts/login/")
    fill_login(page, "mina")
    expect(page.locator(".form-errors")).to_contain_text("Please enter a correct username")
