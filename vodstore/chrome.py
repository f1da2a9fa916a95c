"""Pieces of pages rendered once per process and kept, with slots for what is the
visitor's own: the site's header and footer (`{% site_header %}`, `{% site_footer %}`)
and the points chip.

Such a piece is the same on every page but for a few words, so it is rendered through
its template once for each language and variant (the page, the kind of visitor) and kept
in the "fragments" cache, each process's own memory (only a deploy changes them); per
request, `filled` puts the visitor's pieces in its slots. A slot is an HTML comment and
every value put in one is escaped first, so no value can make or fill another slot.
Rendered for every page through the template engine, the chrome cost more than the rest
of a signed-in page (docs/measured.md, "The storefront")."""

from django.core.cache import caches
from django.template.loader import render_to_string
from django.utils.safestring import SafeString, mark_safe

# A day, as before: entries are only ever replaced by a deploy (a new process).
KEPT_SECONDS = 86400


def slot(name: str) -> SafeString:
    """The mark a template prints where `name` goes."""
    return mark_safe(f"<!--slot:{name}-->")  # noqa: S308 - a constant comment


class Slots:
    """What a kept template sees as `slots`: `{{ slots.username }}` prints that slot."""

    def __getattr__(self, name: str) -> SafeString:
        return slot(name)


def kept(template: str, language: str, **variant: object) -> str:
    """`template` rendered with `variant` and `slots` in `language` (the active one), from
    this process's fragments cache after the first time."""
    parts = ":".join(f"{name}={value}" for name, value in sorted(variant.items()))
    key = f"chrome:{template}:{language}:{parts}"
    fragments = caches["fragments"]
    html = fragments.get(key)
    if html is None:
        context = {**variant, "slots": Slots(), "LANGUAGE_CODE": language}
        html = render_to_string(template, context)
        fragments.set(key, html, KEPT_SECONDS)
    return html


def filled(html: str, **values: str) -> SafeString:
    """`html` with each slot `name` replaced by `values[name]`, which must be escaped
    HTML already (as `format_html` and `escape` give)."""
    for name, value in values.items():
        html = html.replace(f"<!--slot:{name}-->", value)
    return mark_safe(html)  # noqa: S308 - our templates, with escaped values
