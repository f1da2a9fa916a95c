"""A page of a person's own list (purchases, the library, points) without counting the
list when it fits on one page, as most people's do."""

from collections.abc import Callable

from django.core.paginator import Page, Paginator
from django.db.models import QuerySet

from vodstore.compiled import Compiled


def page_of(
    rows: QuerySet | Compiled,
    per_page: int,
    number: str | None,
    *,
    count: Callable[[], int] | None = None,
    **values,
) -> Page:
    """`Paginator(queryset, per_page).get_page(number)`, but the first page asks for one
    row more than a page: when that is all there is, the count is the rows it got (one
    query instead of two); else the paginator counts, as always (or `count()` does).
    `rows` is a queryset, or a compiled shape (`vodstore.compiled`) with its `values`,
    whose first page is read without building the query again."""
    queryset = rows.queryset(**values) if isinstance(rows, Compiled) else rows
    paginator = Paginator(queryset, per_page)
    if number not in (None, "", "1"):
        if count is not None:
            paginator.count = count()
        return paginator.get_page(number)
    if isinstance(rows, Compiled):
        rows = rows.rows(limit=per_page + 1, **values)
    else:
        rows = list(queryset[: per_page + 1])
    if len(rows) <= per_page:
        paginator.count = len(rows)  # all there is
    elif count is not None:
        paginator.count = count()
    return Page(rows[:per_page], 1, paginator)
