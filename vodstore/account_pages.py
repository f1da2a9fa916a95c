"""Storefront account pages: sign up. Log in and log out are Django's own views."""

import math

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.forms import UserCreationForm
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render, resolve_url
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext, ngettext
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods

from vodstore.accounts import SignupThrottled, signup_attempt


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


def _too_many_signups(request, form, next_url: str, exc: SignupThrottled) -> HttpResponse:
    seconds = exc.extra["retry_after"]
    minutes = max(1, math.ceil(seconds / 60))
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
    form = UserCreationForm(request.POST if request.method == "POST" else None)
    if request.method == "POST":
        try:
            with signup_attempt(request):
                if form.is_valid():
                    user = form.save()
                    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
                    messages.success(
                        request,
                        gettext("Welcome, %(username)s! Your account is ready.")
                        % {"username": user.username},
                    )
                    return _go_next(next_url)
        except SignupThrottled as exc:
            return _too_many_signups(request, form, next_url, exc)
    return render(request, "registration/signup.html", {"form": form, "next": next_url})
