"""A changelist paginator for big tables: the count is exact up to a cap, estimated above it.

Django's paginator counts every matching row to number the pages; at 1,000,000 votes that
COUNT(*) was most of a page's time. Counting a LIMITed subquery stops at the cap, so a list of
up to CAP rows (a filter, a search with few hits) still shows its exact total; past the cap
the page numbers come from PostgreSQL's planner estimate of the same query (statistics that
ANALYZE keeps), never below the cap. Other databases get the exact count.
"""

from __future__ import annotations

import json

from django.core.paginator import Paginator
from django.db import connections
from django.db.models import QuerySet
from django.utils.functional import cached_property

EXACT_COUNT_CAP = 10_000


def queryset_row_estimate(queryset: QuerySet) -> int | None:
    """The planner's estimate of the rows ``queryset`` returns, or None off PostgreSQL."""
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return None
    sql, params = queryset.order_by().query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


class CappedCountPaginator(Paginator):
    estimated = False

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if not isinstance(queryset, QuerySet):
            return super().count
        capped = queryset.order_by()[: EXACT_COUNT_CAP + 1].count()
        if capped <= EXACT_COUNT_CAP:
            return capped
        estimate = queryset_row_estimate(queryset)
        if estimate is None:
            return queryset.count()
        self.estimated = True
        return max(estimate, EXACT_COUNT_CAP + 1)
