"""Pair.load: a regular pair's votes plus its held reservations, counted, adjusted, recounted.

Votes on a conversation's second and later turns are not counted: the rater's first vote on the
pair holds its place (raters.turns).

Also the hand-back of lapsed reservations' places to their pairs. How the number is used to pick
the next pair is in raters.assignment (its docstring states the invariants).
"""

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from django.db import connection, transaction
from django.db.models import Count, F, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce, Greatest

from evaluations.models import Pair, Study
from raters.models import Assignment, Vote
from raters.turns import PLACE_TAKING, PLACE_TAKING_SQL

# Lapsed reservations handed back per request; any rest goes with the next request.
RECLAIM_BATCH = 200


def _count_subquery(queryset: QuerySet, field: str = "pair") -> Coalesce:
    return Coalesce(
        Subquery(
            queryset.filter(**{field: OuterRef("pk")})
            .order_by()
            .values(field)
            .annotate(n=Count("pk"))
            .values("n")[:1]
        ),
        Value(0),
    )


def _held_reservations() -> QuerySet:
    return Assignment.objects.filter(state=Assignment.State.RESERVED)


@dataclass(frozen=True)
class PairCounts:
    load: int  # votes plus held reservations
    on_a: int  # assignments, of any state, showing output_a on the left
    on_b: int


def _pair_counts_sql() -> str:
    # Written out, not built through the ORM: it runs inside the pair's lock on every
    # reservation, and compiling its four subqueries cost more CPU than running them.
    q = connection.ops.quote_name
    vote, assignment = q(Vote._meta.db_table), q(Assignment._meta.db_table)
    pair_is = f"{q('pair_id')} = %(pair)s"
    return (
        f"SELECT (SELECT COUNT(*) FROM {vote} WHERE {pair_is} AND {PLACE_TAKING_SQL}),"
        f" (SELECT COUNT(*) FROM {assignment} WHERE {pair_is} AND {q('state')} = %(reserved)s),"
        f" (SELECT COUNT(*) FROM {assignment} WHERE {pair_is} AND {q('left_output_id')} = %(a)s),"
        f" (SELECT COUNT(*) FROM {assignment} WHERE {pair_is} AND {q('left_output_id')} = %(b)s)"
    )


def pair_counts(pair: Pair) -> PairCounts:
    """The pair's exact load and side counts, in one query (call with the pair locked)."""
    params = {
        "pair": pair.pk,
        "reserved": Assignment.State.RESERVED.value,
        "a": pair.output_a_id,
        "b": pair.output_b_id,
    }
    with connection.cursor() as cursor:
        cursor.execute(_pair_counts_sql(), params)
        n_votes, n_held, on_a, on_b = cursor.fetchone()
    return PairCounts(load=n_votes + n_held, on_a=on_a, on_b=on_b)


def pair_load_exact(pair: Pair) -> int:
    """Votes plus held reservations of one pair, counted (call with the pair locked)."""
    return pair_counts(pair).load


def pair_load_adjust(pair_id: int, delta: int) -> None:
    Pair.objects.filter(pk=pair_id).update(load=Greatest(F("load") + delta, Value(0)))


def study_pair_loads_recount(*, study: Study) -> int:
    """Recount Pair.load for every regular pair of the study; returns how many were wrong.

    For loads left stale by writers that bypass these functions (bulk copies, the admin).
    """
    places = Vote.objects.filter(PLACE_TAKING)
    exact = _count_subquery(places) + _count_subquery(_held_reservations())
    stale = Pair.objects.filter(study=study, gold_answer="").annotate(exact=exact)
    stale = stale.exclude(load=F("exact"))
    return Pair.objects.filter(pk__in=stale.values("pk")).update(
        load=_count_subquery(places) + _count_subquery(_held_reservations())
    )


def assignments_reclaim_lapsed(*, study: Study, now: datetime) -> int:
    """Hand the places of lapsed regular reservations back to their pairs."""
    lapsed = Assignment.objects.filter(
        study=study, state=Assignment.State.RESERVED, is_gold=False, expires_at__lte=now
    )
    # Usually there are none: one probe, without the round trips of a transaction.
    if not lapsed.exists():
        return 0
    with transaction.atomic():
        rows = list(
            lapsed.select_for_update(skip_locked=True).values_list("pk", "pair_id")[:RECLAIM_BATCH]
        )
        if not rows:
            return 0
        Assignment.objects.filter(pk__in=[pk for pk, _ in rows]).update(
            state=Assignment.State.EXPIRED
        )
        # In id order, so that two reclaimers never wait on each other's pairs crosswise.
        for pair_id, n in sorted(Counter(pair_id for _, pair_id in rows).items()):
            pair_load_adjust(pair_id, -n)
    return len(rows)
