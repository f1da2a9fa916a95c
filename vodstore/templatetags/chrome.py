"""The site's header and footer in templates/base.html: `{% site_header points_chip %}`
(`points_chip` the points chip from mileage's `{% mileage_balance %}`, or "") and
`{% site_footer %}`. Kept per language, page and kind of visitor (`vodstore.chrome`);
the visitor's name, the log-out form's CSRF token and the addresses to come back to are
put in per request."""

from urllib.parse import quote

from django import template
from django.middleware.csrf import get_token
from django.utils.html import escape
from django.utils.safestring import SafeString
from django.utils.translation import get_language

from vodstore.chrome import filled, kept

register = template.Library()


def _current(request) -> str:
    """The view name of the page, which the navigation marks as the current one."""
    match = getattr(request, "resolver_match", None)
    return (match.view_name if match else "") or ""


@register.simple_tag(takes_context=True)
def site_header(context: template.Context, balance: str = "") -> SafeString:
    request = context["request"]
    user = request.user
    signed_in = user.is_authenticated
    html = kept(
        "site/_header.html",
        get_language() or "",
        current=_current(request),
        signed_in=signed_in,
        staff=signed_in and user.is_staff,
    )
    if signed_in:
        return filled(
            html,
            balance=balance,
            username=escape(user.get_username()),
            csrf_token=escape(get_token(request)),
        )
    # where "Log in" and "Sign up" lead back to: the page asked for, or this one
    back = context.get("next") or request.path
    return filled(html, balance=balance, next=escape(quote(str(back), safe="/")))


@register.simple_tag(takes_context=True)
def site_footer(context: template.Context) -> SafeString:
    request = context["request"]
    html = kept("site/_footer.html", get_language() or "")
    return filled(html, path=escape(request.get_full_path()))
