"""The catalog's storefront pages, kept rendered under the catalog's generation
(`catalog.cache`): a change to any film forgets them exactly as it forgets the API's
answers.

Two layers, so that what differs per visitor never lands in a shared entry:

- **Fragments**, for everyone: the part of a page that is the same for every visitor in
  a language (the list's filters, count, sort links, cards and pagination; the film's
  poster, facts, trailer and synopsis). The per-visitor pieces are composed into the
  fragment's *slots* per request: the "In your library" mark of each card (the page
  asks purchase which of the ids the visitor owns) and the film page's buy box.
- **Whole pages**, for visitors who carry no session and no messages (nothing on the
  page can be theirs): the rendered page, served as it was, with `Cache-Control:
  public` so a reverse proxy may keep it too (`Vary: Cookie, Accept-Language`). Such
  a page holds no CSRF token (the language form needs none, the buy box of a visitor
  has no form); a response that sets a cookie is never kept.

Signed-in pages are `Cache-Control: private, no-store`: only their fragments are shared.
"""

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.contrib.messages.storage.cookie import CookieStorage
from django.http import HttpRequest, HttpResponse
from django.utils.cache import add_never_cache_headers, patch_cache_control, patch_vary_headers
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language

from catalog import cache

# Where a fragment leaves room for what is the visitor's own. Titles and synopses are
# escaped when rendered, so no film can put one of these in a page.
OWNED_SLOT = "<!--owned-->"
BUY_SLOT = "<!--buy-->"


@dataclass(frozen=True)
class Fragment:
    """A rendered part of a page with its slots: `ids` names the film of each
    OWNED_SLOT in order; `facts` what the page needs besides (the film page's buy box:
    its id, title and price)."""

    html: str
    ids: tuple[int, ...] = ()
    facts: dict | None = None

    def with_owned(self, owned: frozenset[int], mark: str) -> SafeString:
        """The fragment with `mark` in the slot of each film in `owned`."""
        parts = self.html.split(OWNED_SLOT)
        if len(parts) != len(self.ids) + 1:  # not of this fragment: never guess
            raise ValueError("a fragment's owned slots do not match its films")
        out = [parts[0]]
        for film, after in zip(self.ids, parts[1:], strict=True):
            if film in owned:
                out.append(mark)
            out.append(after)
        return mark_safe("".join(out))  # noqa: S308 - rendered (escaped) by our templates

    def around_buy_box(self) -> tuple[SafeString, SafeString]:
        """What comes before and after the film page's buy box."""
        before, after = self.html.split(BUY_SLOT)
        return mark_safe(before), mark_safe(after)  # noqa: S308 - rendered by our templates


def fragment(key_parts: tuple, build: Callable[[], Fragment]) -> Fragment:
    """The fragment named by `key_parts` in the active language, from the cache when the
    catalog has not changed since it was kept; else `build()`, then kept."""
    key = cache.key_for("storefront", get_language() or "", *map(str, key_parts))
    content, generation = cache.lookup(key)
    if content is not None:
        data = json.loads(content)
        return Fragment(data["html"], tuple(data["ids"]), data["facts"])
    made = build()
    encoded = json.dumps({"html": made.html, "ids": list(made.ids), "facts": made.facts})
    cache.store(key, encoded.encode(), generation)
    return made


def _nothing_of_theirs(request: HttpRequest, params: frozenset[str]) -> bool:
    """A GET of only the page's own query parameters (each once) by a visitor with no
    session and no messages waiting: the page cannot hold anything of theirs."""
    if request.method not in ("GET", "HEAD"):
        return False
    cookies = request.COOKIES
    if settings.SESSION_COOKIE_NAME in cookies or CookieStorage.cookie_name in cookies:
        return False
    return all(name in params and len(request.GET.getlist(name)) == 1 for name in request.GET)


def anonymous_page_cache(*params: str):
    """Keep a view's whole page, per language and address, for visitors who carry
    nothing of their own (see the module); mark pages public or private either way."""
    allowed = frozenset(params)

    def decorate(view):
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if not _nothing_of_theirs(request, allowed):
                response = view(request, *args, **kwargs)
                if request.user.is_authenticated:
                    add_never_cache_headers(response)  # adds private, no-store
                else:
                    patch_cache_control(response, private=True)
                return response
            key = cache.key_for("storefront-page", get_language() or "", request.get_full_path())
            content, generation = cache.lookup(key)
            if content is not None:
                response = HttpResponse(content)
            else:
                response = view(request, *args, **kwargs)
                if response.status_code == 200 and not response.cookies:
                    cache.store(key, response.content, generation)
            if response.status_code == 200:
                patch_cache_control(response, public=True, max_age=settings.STOREFRONT_MAX_AGE)
            patch_vary_headers(response, ("Cookie", "Accept-Language"))
            return response

        return wrapper

    return decorate
