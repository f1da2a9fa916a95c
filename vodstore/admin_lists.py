"""Admin change lists over tables of millions of rows (purchases, payments, the ledger,
the outbox): pages that never count or sort a whole table, filters whose choices are
known without reading it, and searches that go straight to an index.

Django's change list counts its rows twice per page (the filtered count for the
paginator, and the whole table for "N total"), offers facet counts per filter choice,
and lists the choices of a plain text field with `SELECT DISTINCT`; each reads the whole
table. What stands in their place:

- `EstimatingPaginator` counts exactly up to `EXACT_UP_TO` rows and, past that, takes
  PostgreSQL's estimate (the page says "about"); it offers the first `DEEPEST_PAGE`
  pages, because a page deep in a list is read by skipping every row before it (reverse
  the sort, or filter, to reach the oldest).
- `LongListAdmin` puts it in place and turns off the full count and facets.
- `KnownChoicesFilter` filters by a value from a fixed list.
- `as_id`, `as_uuid` and `user_ids_named` read a search term as what it can be, so that
  an admin's `get_search_results` looks it up by an exact, indexed field instead of
  `icontains` over every row."""

import math
import uuid

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.core.paginator import Paginator
from django.db.models import Q
from django.utils.functional import cached_property

from vodstore.rowcounts import count_up_to, planner_rows

EXACT_UP_TO = 1000  # rows counted exactly; past this the count is an estimate
DEEPEST_PAGE = 200  # with 100 rows a page, the newest 20,000 rows (OFFSET 19,900 at most)
BIGINT_MAX = 2**63 - 1


class EstimatingPaginator(Paginator):
    """A paginator whose count reads at most `EXACT_UP_TO + 1` rows. Past that it is
    PostgreSQL's estimate (`estimated` is then true); on SQLite, which has none, the
    exact count (the embedded store's tables are small enough for one)."""

    estimated = False

    @cached_property
    def count(self) -> int:
        counted = count_up_to(self.object_list, EXACT_UP_TO)
        if counted <= EXACT_UP_TO:
            return counted
        estimate = planner_rows(self.object_list)
        if estimate is None:
            return self.object_list.count()
        self.estimated = True
        return max(estimate, counted)

    @cached_property
    def num_pages(self) -> int:
        return min(super().num_pages, DEEPEST_PAGE)

    @property
    def pages_cut(self) -> bool:
        """Are there rows past the last page offered?"""
        hits = max(1, self.count - self.orphans)
        return math.ceil(hits / self.per_page) > self.num_pages


class LongListAdmin:
    """For the model admins of tables that grow for ever: the estimating paginator, no
    count of the whole table, no facet counts. Their `sortable_by` should name only
    columns an index can sort. Their search is `search_matches(term)`: the rows a
    (stripped, non-empty) term finds, by exact, indexed fields (`search_fields` only
    shows the search box)."""

    paginator = EstimatingPaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER

    def search_matches(self, term: str) -> Q:
        raise NotImplementedError

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term or not self.get_search_fields(request):
            return queryset, False
        return queryset.filter(self.search_matches(term)), False


class KnownChoicesFilter(admin.SimpleListFilter):
    """A filter on `field` whose choices are `choices()`, a fixed list (value, label),
    instead of `SELECT DISTINCT field` over the whole table."""

    field: str

    def choices_known(self) -> list[tuple[str, str]]:
        raise NotImplementedError

    def lookups(self, request, model_admin) -> list[tuple[str, str]]:
        return self.choices_known()

    def queryset(self, request, queryset):
        value = self.value()
        return queryset.filter(**{self.field: value}) if value else queryset


def as_id(term: str) -> int | None:
    """The term as a row id (ASCII digits, within PostgreSQL's bigint), or None."""
    if term.isascii() and term.isdigit() and 0 < int(term) <= BIGINT_MAX:
        return int(term)
    return None


def as_uuid(term: str) -> uuid.UUID | None:
    """The term as a UUID (an event's id, with or without its dashes), or None."""
    try:
        return uuid.UUID(term)
    except ValueError:
        return None


def user_ids_named(term: str) -> list[int]:
    """The id of the user with exactly this username (its unique index), if any: one
    small query, so that the list's own query filters its rows by user id."""
    User = get_user_model()
    if not term or len(term) > User._meta.get_field(User.USERNAME_FIELD).max_length:
        return []
    return list(
        User._default_manager.filter(**{User.USERNAME_FIELD: term}).values_list("pk", flat=True)
    )
