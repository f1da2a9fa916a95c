"""Querysets of a fixed shape, compiled by the ORM once per database connection and
then only executed with each call's values.

On this machine building a queryset, compiling it to SQL and turning its rows into
model instances costs about 0.7 ms, three times a simple indexed query itself: on a
signed-in page, whose session, purchases and films are each one such query, the ORM
was the biggest single cost. A `Compiled` keeps what the ORM made of one shape (the SQL
and its parameters, the converters of each column, how the row maps onto the model and
what `select_related` brings) and runs it again with other values: the same SQL, the
same conversions, the same instances (`Model.from_db`, Django's own populators for
related rows), through Django's cursor (so query logging, the test suite's query
counts and the database's errors are as for any query).

A shape is a function of named values (`build(user_id=...)`) returning a queryset that
uses each value once as a filter parameter; `placeholders` are values of each one's
type that no real call passes, with which the shape is compiled to find where each
value goes. Limits are part of the SQL: each `limit` asked for is compiled once too.
A `values_list()` shape gives its rows as tuples (an aggregate's, a count's)."""

import threading
import weakref
from collections.abc import Callable
from datetime import datetime

from django.db import connections
from django.db.models import Model, QuerySet
from django.db.models.query import ModelIterable, ValuesListIterable, get_related_populators


class Compiled:
    """One queryset shape (see the module); `rows(limit=..., **values)` runs it."""

    def __init__(self, build: Callable[..., QuerySet], using: str = "default", **placeholders):
        self.build = build
        self.using = using
        self.placeholders = placeholders
        self._plans: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def queryset(self, **values) -> QuerySet:
        """The shape with these values, as a queryset (for what `rows` does not do)."""
        return self.build(**values)

    def rows(self, *, limit: int | None = None, **values) -> list[Model]:
        """The instances the queryset with these `values` (its first `limit`) gives."""
        connection = connections[self.using]
        plan = self._plan(connection, limit)
        return plan.run(connection, values)

    def statement(self, *, limit: int | None = None, **values) -> tuple[str, list]:
        """The SQL and parameters `rows` sends for these values."""
        connection = connections[self.using]
        return self._plan(connection, limit).statement(values)

    def first(self, **values) -> Model | None:
        found = self.rows(limit=1, **values)
        return found[0] if found else None

    def _plan(self, connection, limit: int | None) -> "_Plan":
        plans = self._plans.get(connection)
        plan = plans.get(limit) if plans is not None else None
        if plan is None:
            queryset = self.build(**self.placeholders)
            if limit is not None:
                queryset = queryset[:limit]
            plan = _Plan(queryset, self.using, connection, self.placeholders)
            with self._lock:  # each connection is its thread's: the lock guards the dict
                self._plans.setdefault(connection, {})[limit] = plan
        return plan


class _Plan:
    """What the ORM made of one shape and limit, for one connection."""

    def __init__(self, queryset: QuerySet, using: str, connection, placeholders: dict) -> None:
        if queryset._known_related_objects or queryset._prefetch_related_lookups:
            raise ValueError("a compiled queryset reads its rows only: no prefetching")
        compiler = queryset.query.get_compiler(using)
        self.sql, params = compiler.as_sql()
        self.params = list(params)
        self.using = using
        # where each value goes, and how the database takes it (a time on SQLite is text)
        self.slots: list[tuple[str, int, Callable | None]] = []
        for name, placeholder in placeholders.items():
            adapt = _adapter(placeholder, connection)
            prepared = adapt(placeholder) if adapt else placeholder
            at = [i for i, param in enumerate(self.params) if param == prepared]
            if len(at) != 1:
                raise ValueError(f"the placeholder of {name!r} is not one parameter: {at}")
            self.slots.append((name, at[0], adapt))
        columns = [column for column, _sql, _alias in compiler.select]
        self.converters = [
            (at, convert, column)
            for at, (converts, column) in compiler.get_converters(columns).items()
            for convert in converts
        ]
        self.model = None  # a `values_list()` shape: its rows are tuples, as the ORM's
        if queryset._iterable_class is ValuesListIterable:
            return
        if queryset._iterable_class is not ModelIterable:
            raise ValueError("a compiled queryset gives instances, or tuples (values_list)")
        info = compiler.klass_info
        self.model = info["model"]
        fields = info["select_fields"]
        self.start, self.end = fields[0], fields[-1] + 1
        self.names = [columns[at].target.attname for at in range(self.start, self.end)]
        self.populators = get_related_populators(info, compiler.select, using)
        self.annotations = dict(compiler.annotation_col_map or {})

    def statement(self, values: dict) -> tuple[str, list]:
        if values.keys() != {name for name, _at, _adapt in self.slots}:
            raise TypeError(
                f"values for {sorted(n for n, _, _ in self.slots)}, got {sorted(values)}"
            )
        params = list(self.params)
        for name, at, adapt in self.slots:
            params[at] = adapt(values[name]) if adapt else values[name]
        return self.sql, params

    def run(self, connection, values: dict) -> list[Model] | list[tuple]:
        sql, params = self.statement(values)
        # prepared by the server where the backend can (vodstore.postgresql)
        prepared = getattr(connection, "prepared_cursor", None)
        with prepared() if prepared else connection.cursor() as cursor:
            cursor.execute(sql, params)
            fetched = cursor.fetchall()
        found = []
        for row in fetched:
            row = list(row)
            for at, convert, column in self.converters:
                row[at] = convert(row[at], column, connection)
            if self.model is None:
                found.append(tuple(row))
                continue
            instance = self.model.from_db(self.using, self.names, row[self.start : self.end])
            for populator in self.populators:
                populator.populate(row, instance)
            for name, at in self.annotations.items():
                setattr(instance, name, row[at])
            found.append(instance)
        return found


def _adapter(value, connection) -> Callable | None:
    """How the ORM hands a value of this kind to the database, where it is not as is."""
    if isinstance(value, datetime):
        return connection.ops.adapt_datetimefield_value
    return None
