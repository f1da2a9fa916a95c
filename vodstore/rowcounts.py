"""How many rows, without reading them all: a count that stops past a bound, and
PostgreSQL's own estimate (its planner's, from the statistics VACUUM and ANALYZE keep),
for admin's lists and /metrics over tables of millions of rows."""

import json

from django.db import connections
from django.db.models import QuerySet


def count_up_to(queryset: QuerySet, bound: int) -> int:
    """The rows of `queryset`, counted exactly up to `bound`; `bound + 1` means "more":
    the database stops at the first row past the bound (`LIMIT` inside the count)."""
    return queryset.order_by().values("pk")[: bound + 1].count()


def planner_rows(queryset: QuerySet) -> int | None:
    """PostgreSQL's estimate of the rows `queryset` holds (`EXPLAIN`: planned, never
    run), or None on another database. As good as the table's statistics: close for a
    whole table, rougher under filters."""
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return None
    sql, params = queryset.order_by().values("pk").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        (plan,) = cursor.fetchone()
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])
