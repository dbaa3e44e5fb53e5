"""Changelist search on big tables without joins.

Django's admin search joins every related table named in search_fields and ORs the terms
across them, so PostgreSQL can use no index and reads every row (3 s over 1,000,000 votes).
Here a field through a relation (``pair__public_id``) is first looked up in the related table,
which is small or indexed, and becomes ``pair_id IN (...)``; fields of the model itself stay
``icontains`` (trigram-indexed where the table is big, see the evaluations 0008 migration).
The terms and their meaning are Django's: every word must match some field.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils.text import smart_split, unescape_string_literal

# Past this many matching related rows, the ids stay a subquery instead of a literal list.
ID_LIST_LIMIT = 1000


def search_term_condition(model: Any, field: str, term: str) -> Q:
    relation, _, attribute = field.partition("__")
    if not attribute:
        return Q(**{f"{field}__icontains": term})
    related = model._meta.get_field(relation).related_model
    matching = related._default_manager.filter(**{f"{attribute}__icontains": term}).order_by()
    ids = list(matching.values_list("pk", flat=True)[: ID_LIST_LIMIT + 1])
    if len(ids) > ID_LIST_LIMIT:
        return Q(**{f"{relation}__in": matching.values("pk")})
    return Q(**{f"{relation}_id__in": ids})


def search_words(search_term: str) -> list[str]:
    words = []
    for bit in smart_split(search_term):
        if bit.startswith(('"', "'")) and bit[0] == bit[-1]:
            bit = unescape_string_literal(bit)
        if bit:
            words.append(bit)
    return words


class RelatedIdSearchAdminMixin:
    """For the changelists of big tables whose search_fields are plain or one relation deep."""

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        words = search_words(search_term)
        fields = self.get_search_fields(request)
        if not words or not fields:
            return queryset, False
        for word in words:
            condition = Q()
            for field in fields:
                condition |= search_term_condition(self.model, field, word)
            queryset = queryset.filter(condition)
        return queryset, False
