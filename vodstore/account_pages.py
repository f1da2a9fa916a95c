"""Storefront account pages: sign up, the account page (e-mail, sign out everywhere,
close the account), password change and reset in the store's look, and the messages
that say what happened. Log in is Django's own view."""

import hashlib
import math

from axes.utils import reset as axes_reset
from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import authenticate, login, logout
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import PasswordResetForm, UserCreationForm
from django.contrib.auth.models import User
from django.contrib.auth.signals import user_logged_out
from django.contrib.messages.views import SuccessMessageMixin
from django.db import IntegrityError
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse_lazy
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext, gettext_lazy, ngettext
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from vodstore.account_services import (
    EMAIL_TAKEN_MESSAGE,
    EmailTaken,
    email_normalize,
    email_taken,
    user_anonymize,
    user_set_email,
    user_sign_out_everywhere,
)
from vodstore.accounts import SignupThrottled, client_address, signup_attempt
from vodstore.ratelimit import RateLimited, attempt


def _safe_next(request: HttpRequest) -> str:
    """The `next` address if it is a path on this site (no open redirect), else "".

    Only a path ("/library/"): a plain word ("abc") is neither sent back to the browser
    as a relative address nor, as `redirect()` would, looked up as a URL name."""
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate.startswith("/") and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return ""


def _go_next(next_url: str) -> HttpResponseRedirect:
    # never `redirect(value)`: it resolves a value without a "/" as a URL name
    return HttpResponseRedirect(next_url or resolve_url(settings.LOGIN_REDIRECT_URL))


def _minutes(seconds: int) -> int:
    return max(1, math.ceil(seconds / 60))


# --- sign up ----------------------------------------------------------------------------


class EmailField(forms.EmailField):
    """An e-mail address as stored (domain in lower case), free for this account."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("label", gettext_lazy("E-mail address"))
        kwargs.setdefault("max_length", 254)
        super().__init__(**kwargs)
        self.widget.attrs.setdefault("autocomplete", "email")

    def clean(self, value):
        return email_normalize(super().clean(value))


class SignupForm(UserCreationForm):
    """Django's sign-up form with an e-mail address; a weak password is reported under
    the password, and passwords that passed are kept when only another field failed."""

    email = EmailField(
        help_text=gettext_lazy(
            "For receipts and password resets. Never shown to anyone, never sold."
        ),
    )

    class Meta(UserCreationForm.Meta):
        model = User
        fields = ("username", "email")

    def clean_email(self) -> str:
        email = self.cleaned_data["email"]
        if email_taken(email=email):
            raise forms.ValidationError(EMAIL_TAKEN_MESSAGE, code="email_taken")
        return email

    # Django reports the password rules under the confirmation; the rules are about
    # the password itself, so that is where the buyer looks for them.
    rules_under = "password1"

    def validate_password_for_user(self, user, **kwargs) -> None:
        super().validate_password_for_user(user, password_field_name=self.rules_under)

    def _post_clean(self) -> None:
        super()._post_clean()
        if self.errors and not ({"password1", "password2"} & set(self.errors)):
            # Only another field failed (a taken name or address): do not make the
            # buyer type an accepted password twice again.
            for name in ("password1", "password2"):
                self.fields[name].widget.render_value = True


def _too_many_signups(request, form, next_url: str, exc: SignupThrottled) -> HttpResponse:
    seconds = exc.extra["retry_after"]
    minutes = _minutes(seconds)
    message = ngettext(
        "Too many sign-ups from here. Please try again in %(minutes)d minute.",
        "Too many sign-ups from here. Please try again in %(minutes)d minutes.",
        minutes,
    )
    form.add_error(None, message % {"minutes": minutes})
    context = {"form": form, "next": next_url}
    response = render(request, "registration/signup.html", context, status=429)
    response["Retry-After"] = str(seconds)
    return response


@sensitive_post_parameters("password1", "password2")
@require_http_methods(["GET", "POST"])
def signup_view(request: HttpRequest) -> HttpResponse:
    """Create an account (the password rules of the API apply), sign in, go to `next`.
    Sign-ups are limited per client address (`SIGNUP_RATE`), as in the API."""
    next_url = _safe_next(request)
    if request.user.is_authenticated:
        return _go_next(next_url)
    form = SignupForm(request.POST if request.method == "POST" else None)
    if request.method == "POST":
        try:
            with signup_attempt(request):
                if form.is_valid():
                    try:
                        user = form.save()
                    except IntegrityError:  # the same name or address a moment ago
                        form.add_error(None, gettext("This username or e-mail address is taken."))
                    else:
                        login(request, user, backend="vodstore.sessions.SessionAccountBackend")
                        messages.success(
                            request,
                            gettext("Welcome, %(username)s! Your account is ready.")
                            % {"username": user.username},
                        )
                        return _go_next(next_url)
        except SignupThrottled as exc:
            return _too_many_signups(request, form, next_url, exc)
    return render(request, "registration/signup.html", {"form": form, "next": next_url})


# --- the account page ---------------------------------------------------------------------


class PasswordConfirmForm(forms.Form):
    """The account's password, asked again before a change that a borrowed or stolen
    session must not make on its own (the address resets go to, closing the account).
    Checked through `authenticate()`, so django-axes counts wrong guesses here too."""

    password = forms.CharField(
        label=gettext_lazy("Your password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )

    def __init__(self, *args, request: HttpRequest, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.request = request

    def clean_password(self) -> str:
        password = self.cleaned_data["password"]
        user = self.request.user
        checked = authenticate(self.request, username=user.get_username(), password=password)
        if checked is None or checked.pk != user.pk:
            raise forms.ValidationError(gettext("This is not your password."), code="wrong")
        return password


class EmailChangeForm(PasswordConfirmForm):
    email = EmailField(
        required=False,
        help_text=gettext_lazy("Leave empty to remove it (you then get no receipts or resets)."),
    )
    field_order = ["email", "password"]


def _account_page(request, *, email_form=None, status=200) -> HttpResponse:
    email_form = email_form or EmailChangeForm(
        request=request, initial={"email": request.user.email}
    )
    context = {"email_form": email_form, "title": gettext("Your account")}
    return render(request, "registration/account.html", context, status=status)


@login_required
@sensitive_post_parameters("password")
@require_http_methods(["GET", "POST"])
def account_view(request: HttpRequest) -> HttpResponse:
    """Your account: name, e-mail address (changed here, with the password), password,
    sessions, closing."""
    if request.method == "GET":
        return _account_page(request)
    form = EmailChangeForm(request.POST, request=request)
    if form.is_valid():
        try:
            email = user_set_email(user_id=request.user.pk, email=form.cleaned_data["email"])
        except EmailTaken:
            form.add_error("email", EMAIL_TAKEN_MESSAGE)
        else:
            if email:
                messages.success(
                    request, gettext("Your e-mail address is now %(email)s.") % {"email": email}
                )
            else:
                messages.success(request, gettext("Your e-mail address was removed."))
            return redirect("account")
    return _account_page(request, email_form=form, status=400)


@login_required
@require_POST
def sign_out_everywhere_view(request: HttpRequest) -> HttpResponse:
    """End every session and API token of the account, this browser's too."""
    user_sign_out_everywhere(user_id=request.user.pk)
    logout(request)  # says "You are signed out." (the receiver below)
    messages.info(request, gettext("Every device and API token of your account is signed out."))
    return redirect(settings.LOGOUT_REDIRECT_URL)


@login_required
@sensitive_post_parameters("password")
@require_http_methods(["GET", "POST"])
def account_delete_view(request: HttpRequest) -> HttpResponse:
    """Close the account after the password is given again (see `user_anonymize`)."""
    form = PasswordConfirmForm(request.POST if request.method == "POST" else None, request=request)
    if request.method == "POST" and form.is_valid():
        user_anonymize(user_id=request.user.pk)
        logout(request)
        messages.success(request, gettext("Your account is closed. Thank you for watching."))
        return redirect(settings.LOGOUT_REDIRECT_URL)
    status = 400 if form.is_bound else 200
    context = {"form": form, "title": gettext("Delete my account")}
    return render(request, "registration/account_delete.html", context, status=status)


@receiver(user_logged_out, dispatch_uid="vodstore.account_pages.say_signed_out")
def say_signed_out(sender, request, user, **kwargs) -> None:
    """Every log-out in the browser (storefront, admin) says so on the next page."""
    if request is not None and hasattr(request, "_messages"):
        messages.info(request, gettext("You are signed out."))


# --- password change and reset ---------------------------------------------------------------


class PasswordChangeView(SuccessMessageMixin, auth_views.PasswordChangeView):
    """Django's password change (it keeps this session and ends the others; the new
    password ends every API token) with a message on the next page."""

    success_url = reverse_lazy("account")
    success_message = gettext_lazy("Your password is changed. Your other devices are signed out.")


class ThrottledPasswordResetForm(PasswordResetForm):
    email = EmailField()


def _digest(email: str) -> str:
    """An address as a cache key: fixed length, no odd characters, not readable."""
    return hashlib.sha256(email.lower().encode()).hexdigest()[:32]


class PasswordResetView(auth_views.PasswordResetView):
    """Ask for a reset link. The answer is the same whether or not an account has the
    address (no one learns who shops here); requests are limited per client address
    and per address asked for (`PASSWORD_RESET_RATE`), so nobody floods a mailbox.
    A mail server that fails is logged by Django and answered the same way. What still
    differs is the time taken (a message is sent for a known address only), as in
    Django itself; sending from a queue would hide that too."""

    form_class = ThrottledPasswordResetForm

    def form_valid(self, form):
        rate = settings.PASSWORD_RESET_RATE
        try:
            with (
                attempt(scope="reset-from", who=client_address(self.request), rate=rate),
                attempt(scope="reset-to", who=_digest(form.cleaned_data["email"]), rate=rate),
            ):
                return super().form_valid(form)
        except RateLimited as exc:
            seconds = exc.extra["retry_after"]
            minutes = _minutes(seconds)
            form.add_error(
                None,
                ngettext(
                    "Too many reset requests. Please try again in %(minutes)d minute.",
                    "Too many reset requests. Please try again in %(minutes)d minutes.",
                    minutes,
                )
                % {"minutes": minutes},
            )
            response = self.render_to_response(self.get_context_data(form=form), status=429)
            response["Retry-After"] = str(seconds)
            return response


class PasswordResetConfirmView(SuccessMessageMixin, auth_views.PasswordResetConfirmView):
    """Set a new password from an e-mailed link. The link proves the mailbox, so the
    account's failed log-ins (django-axes) are forgotten: a buyer locked out by
    guessing can log in with the new password at once. No automatic log-in: the
    buyer logs in through the usual door, where axes still counts."""

    success_message = gettext_lazy("Your password is set. You can log in with it now.")

    def form_valid(self, form):
        response = super().form_valid(form)
        axes_reset(username=form.user.get_username())
        return response
