"""Which pair a rater sees next, on which side, and the short reservation that holds its place.

Invariants:
- A rater is assigned a pair at most once (unique (rater, pair) on Assignment), so they never
  see it twice, whether they voted on it, skipped it or let it lapse.
- A regular pair's load is its votes plus its held reservations (state RESERVED). Pair.load keeps
  that number so the next pair is an ORDER BY load ... LIMIT over an index, whatever the size of
  the study. The stored number only orders: a pair is reserved only while holding its row lock
  and only when its load, recounted under that lock, is below the study's votes-per-pair target,
  so raters working at once never push it past the target even if a bulk writer (a study clone,
  the admin) left Pair.load stale; the recount also repairs it.
- A reservation past its expiry still holds its place until it is reclaimed (state EXPIRED,
  load minus one), which the next request for a new pair in the study does in one index probe.
  Until then its rater gets it back on their next visit.
- On PostgreSQL candidates are locked with SELECT ... FOR UPDATE SKIP LOCKED (raters racing each
  other take different pairs); SQLite serialises write transactions anyway.
- Gold pairs have no target: every rater should meet them, at the study's gold rate.
"""

import hashlib
import random
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import combinations

from django.db import IntegrityError, transaction
from django.db.models import (
    Count,
    Exists,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from evaluations.models import Candidate, Pair, Study
from raters.models import Assignment, Rater, Vote

RESERVATION_TTL = timedelta(minutes=20)
# Candidates locked and ranked per request: enough to span every model pair of a few prompts,
# few enough that raters arriving together mostly lock disjoint sets.
CANDIDATE_POOL = 24
# Lapsed reservations handed back per request; any rest goes with the next request.
RECLAIM_BATCH = 200

ModelPair = tuple[int, int]


def _stable_int(*parts: object) -> int:
    digest = hashlib.blake2b(":".join(str(p) for p in parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


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


def pair_load_exact(pair_id: int) -> int:
    """Votes plus held reservations of one pair, counted (call with the pair locked)."""
    row = (
        Pair.objects.filter(pk=pair_id)
        .annotate(
            n_votes=_count_subquery(Vote.objects.all()),
            n_held=_count_subquery(_held_reservations()),
        )
        .values_list("n_votes", "n_held")
        .first()
    )
    return sum(row) if row else 0


def pair_load_adjust(pair_id: int, delta: int) -> None:
    Pair.objects.filter(pk=pair_id).update(load=Greatest(F("load") + delta, Value(0)))


def study_pair_loads_recount(*, study: Study) -> int:
    """Recount Pair.load for every regular pair of the study; returns how many were wrong.

    For loads left stale by writers that bypass these functions (bulk copies, the admin).
    """
    exact = _count_subquery(Vote.objects.all()) + _count_subquery(_held_reservations())
    stale = Pair.objects.filter(study=study, gold_answer="").annotate(exact=exact)
    stale = stale.exclude(load=F("exact"))
    return Pair.objects.filter(pk__in=stale.values("pk")).update(
        load=_count_subquery(Vote.objects.all()) + _count_subquery(_held_reservations())
    )


def assignments_reclaim_lapsed(*, study: Study, now: datetime) -> int:
    """Hand the places of lapsed regular reservations back to their pairs."""
    with transaction.atomic():
        rows = list(
            Assignment.objects.select_for_update(skip_locked=True)
            .filter(study=study, state=Assignment.State.RESERVED, is_gold=False)
            .filter(expires_at__lte=now)
            .values_list("pk", "pair_id")[:RECLAIM_BATCH]
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


def _choose_left_output_id(*, study: Study, rater: Rater, pair: Pair) -> int:
    """Show each output on the left for half of the pair's raters; a seeded coin breaks ties.

    Called with the pair locked, so concurrent raters see each other's sides. The coin is keyed
    by (study seed, rater, pair): the first rater of a pair is as likely to see either output on
    the left, so the canonical order (output_a / output_b) never shows through.
    """
    sides = dict(
        Assignment.objects.filter(pair=pair)
        .values("left_output_id")
        .annotate(n=Count("pk"))
        .values_list("left_output_id", "n")
    )
    on_a, on_b = sides.get(pair.output_a_id, 0), sides.get(pair.output_b_id, 0)
    if on_a != on_b:
        return pair.output_a_id if on_a < on_b else pair.output_b_id
    coin = _stable_int("side", study.seed, rater.pk, pair.pk) % 2
    return pair.output_a_id if coin == 0 else pair.output_b_id


def _reserve(*, study: Study, rater: Rater, pair: Pair, now: datetime) -> Assignment | None:
    """Reserve the locked pair for the rater; None if they hold it already (another tab)."""
    left_output_id = _choose_left_output_id(study=study, rater=rater, pair=pair)
    try:
        with transaction.atomic():
            assignment = Assignment.objects.create(
                study=study,
                pair=pair,
                rater=rater,
                left_output_id=left_output_id,
                is_gold=pair.is_gold,
                expires_at=now + RESERVATION_TTL,
                shown_at=now,
            )
    except IntegrityError:
        return None
    if not pair.is_gold:
        pair_load_adjust(pair.pk, +1)
    assignment.study = study
    return assignment


def _gold_due(*, study: Study, rater: Rater) -> bool:
    if study.gold_rate <= 0:
        return False
    n_assigned = Assignment.objects.filter(rater=rater, study=study).count()
    coin = random.Random(_stable_int("gold", study.seed, rater.pk, n_assigned))  # noqa: S311
    return coin.random() < study.gold_rate


def _seen_by(rater: Rater) -> Exists:
    return Exists(Assignment.objects.filter(rater=rater, pair=OuterRef("pk")))


def _assign_gold(*, study: Study, rater: Rater, now: datetime) -> Assignment | None:
    gold_ids = list(
        Pair.objects.filter(study=study)
        .exclude(gold_answer="")
        .filter(~_seen_by(rater))
        .values_list("pk", flat=True)
    )
    gold_ids.sort(key=lambda pk: _stable_int("gold-order", study.seed, rater.pk, pk))
    for pk in gold_ids[:CANDIDATE_POOL]:
        with transaction.atomic():
            pair = Pair.objects.select_for_update(skip_locked=True).filter(pk=pk).first()
            if pair is None:
                continue
            assignment = _reserve(study=study, rater=rater, pair=pair, now=now)
            if assignment is not None:
                return assignment
    return None


def _model_pair(pair: Pair) -> ModelPair:
    """The pair's two candidates, from the ids _try_reserve annotates on its pool."""
    ca, cb = pair.candidate_a_id, pair.candidate_b_id
    return (min(ca, cb), max(ca, cb))


def _adaptive_model_pairs(study: Study) -> list[ModelPair] | None:
    """In adaptive mode, once every regular pair has a vote: model pairs, hardest first."""
    if not study.adaptive_assignment:
        return None
    unvoted = Pair.objects.filter(study=study, gold_answer="").filter(
        ~Exists(Vote.objects.filter(pair=OuterRef("pk")))
    )
    if unvoted.exists():
        return None
    from raters.adaptive import model_pair_separation

    separation = model_pair_separation(study=study)
    candidate_ids = sorted(Candidate.objects.filter(study=study).values_list("pk", flat=True))
    model_pairs = list(combinations(candidate_ids, 2))
    return sorted(model_pairs, key=lambda mp: separation.get(mp, 0.0))


def _open_regular(study: Study, rater: Rater) -> QuerySet:
    """Regular pairs below target that the rater has never had, fewest load first."""
    return (
        Pair.objects.filter(study=study, gold_answer="", load__lt=study.votes_per_pair)
        .filter(~_seen_by(rater))
        .order_by("load", "pk")
    )


def _rank(*, study: Study, rater: Rater, pool: list[Pair]) -> list[Pair]:
    """Fewest load first; among equals, the model pair and prompt this rater has seen least.

    Over the study the pool is the lowest-loaded pairs in pair order, so every pair gets its
    n-th vote before any gets its n+1-th and all model pairs of a prompt advance together; the
    per-rater balance spreads each rater's work across model pairs and prompts.
    """
    mine = Assignment.objects.filter(rater=rater, study=study, is_gold=False)
    by_model_pair = Counter(
        {
            (min(ca, cb), max(ca, cb)): n
            for ca, cb, n in mine.values_list(
                "pair__output_a__candidate_id", "pair__output_b__candidate_id"
            )
            .annotate(n=Count("pk"))
            .order_by()
        }
    )
    return sorted(
        pool,
        key=lambda pair: (
            pair.load,
            by_model_pair[_model_pair(pair)],
            _stable_int("order", study.seed, rater.pk, pair.pk),
        ),
    )


def _try_reserve(
    *, study: Study, rater: Rater, candidates: QuerySet, now: datetime
) -> Assignment | None:
    """Lock a few candidates (skipping ones others hold), then wait for one if none was free.

    Voters and reclaimers hold at most one pair lock while waiting, and skip-locked rounds never
    wait, so no two transactions can wait on each other's pairs.

    A candidate found full when recounted had a stale load, now repaired, so it drops out of
    the candidates and the next round looks further.
    """
    # Only what ranking needs: the texts are loaded for the one pair reserved, not all 24.
    related = candidates.annotate(
        candidate_a_id=F("output_a__candidate_id"), candidate_b_id=F("output_b__candidate_id")
    )
    while True:
        found_any = False
        for skip_locked in (True, False):
            with transaction.atomic():
                if skip_locked:
                    locking = related.select_for_update(skip_locked=True, of=("self",))
                    pool = list(locking[:CANDIDATE_POOL])
                else:
                    # Wait for the single best pair, by its id: a waiting query over several rows
                    # could lock them in a different order from another rater's and deadlock.
                    first = candidates.values_list("pk", flat=True).first()
                    pool = list(related.select_for_update(of=("self",)).filter(pk=first))
                found_any = bool(pool)
                for pair in _rank(study=study, rater=rater, pool=pool) if len(pool) > 1 else pool:
                    exact = pair_load_exact(pair.pk)
                    if exact != pair.load:
                        Pair.objects.filter(pk=pair.pk).update(load=exact)
                        pair.load = exact
                    if exact >= study.votes_per_pair:
                        continue
                    assignment = _reserve(study=study, rater=rater, pair=pair, now=now)
                    if assignment is not None:
                        return assignment
            if found_any:
                break
        if not found_any:
            return None


def _assign_regular(*, study: Study, rater: Rater, now: datetime) -> Assignment | None:
    model_pairs = _adaptive_model_pairs(study)
    open_pairs = _open_regular(study, rater)
    if model_pairs is None:
        return _try_reserve(study=study, rater=rater, candidates=open_pairs, now=now)
    for ca, cb in model_pairs:
        of_model_pair = open_pairs.filter(
            Q(output_a__candidate_id=ca, output_b__candidate_id=cb)
            | Q(output_a__candidate_id=cb, output_b__candidate_id=ca)
        )
        assignment = _try_reserve(study=study, rater=rater, candidates=of_model_pair, now=now)
        if assignment is not None:
            return assignment
    return None


def _renew(assignment: Assignment, now: datetime) -> bool:
    """Extend a lapsed reservation that still holds its place (nobody reclaimed it)."""
    return bool(
        Assignment.objects.filter(pk=assignment.pk, state=Assignment.State.RESERVED).update(
            expires_at=now + RESERVATION_TTL
        )
    )


def assignment_current(*, rater: Rater, study: Study) -> Assignment | None:
    """The rater's open reservation in the study, the newest first (after an undo, that one)."""
    return (
        Assignment.objects.filter(rater=rater, study=study, state=Assignment.State.RESERVED)
        .select_related("pair__prompt", "pair__output_a", "pair__output_b", "study")
        .order_by("-shown_at", "-pk")
        .first()
    )


def assignment_next(
    *, rater: Rater, study: Study, now: datetime | None = None
) -> Assignment | None:
    """The pair the rater should judge now: their open reservation, or a newly reserved pair.

    Returns None when nothing is left for them (every pair at its target or already theirs).
    """
    now = now or timezone.now()
    while (current := assignment_current(rater=rater, study=study)) is not None:
        if current.expires_at > now:
            return current
        # Lapsed but not yet reclaimed by anyone: its place is still held, so it is theirs again.
        if _renew(current, now):
            current.refresh_from_db(fields=["expires_at"])
            return current
    if not study.is_open:
        return None
    assignments_reclaim_lapsed(study=study, now=now)
    assignment = None
    if _gold_due(study=study, rater=rater):
        assignment = _assign_gold(study=study, rater=rater, now=now)
    if assignment is None:
        assignment = _assign_regular(study=study, rater=rater, now=now)
    if assignment is None and study_pair_loads_recount(study=study):
        assignment = _assign_regular(study=study, rater=rater, now=now)
    if assignment is None:
        return None
    return assignment_current(rater=rater, study=study)  # with the texts the panel shows


def assignment_skip(*, rater: Rater, study: Study, public_id: str) -> bool:
    """Skip the rater's reserved pair: it frees its place and is never shown to them again."""
    with transaction.atomic():
        assignment = (
            Assignment.objects.select_for_update()
            .filter(rater=rater, study=study, pair__public_id=public_id)
            .filter(state__in=[Assignment.State.RESERVED, Assignment.State.EXPIRED])
            .first()
        )
        if assignment is None:
            return False
        Assignment.objects.filter(pk=assignment.pk).update(state=Assignment.State.SKIPPED)
        if assignment.state == Assignment.State.RESERVED and not assignment.is_gold:
            pair_load_adjust(assignment.pair_id, -1)
    return True


@dataclass(frozen=True)
class Progress:
    voted: int
    available: int

    @property
    def percent(self) -> int:
        return round(100 * self.voted / self.available) if self.available else 0


class _RowCount(Subquery):
    """COUNT(*) of a queryset, as a scalar subquery, so that several counts take one query."""

    template = "(SELECT COUNT(*) FROM (%(subquery)s) _rows)"
    output_field = IntegerField()


def rater_progress(*, rater: Rater, study: Study) -> Progress:
    """Votes cast, and votes castable: those plus reserved pairs plus pairs still open to them.

    "Available" shrinks as others fill pairs to their target; gold pairs count once voted.
    Open pairs are counted as all open pairs minus the open ones the rater has had: one count
    bounded by the open pairs' index and one by the rater's own assignments, instead of an
    anti-join over the whole study.
    """
    voted = Vote.objects.filter(rater=rater, study=study)
    if not study.is_open:
        return Progress(voted=voted.count(), available=voted.count())
    reserved = Assignment.objects.filter(rater=rater, study=study, state=Assignment.State.RESERVED)
    open_regular = Pair.objects.filter(study=study, gold_answer="", load__lt=study.votes_per_pair)
    counts = (
        Study.objects.filter(pk=study.pk)
        .annotate(
            n_voted=_RowCount(voted.values("pk")),
            n_reserved=_RowCount(reserved.values("pk")),
            n_open=_RowCount(open_regular.values("pk")),
            n_open_seen=_RowCount(
                Assignment.objects.filter(
                    rater=rater,
                    study=study,
                    pair__gold_answer="",
                    pair__load__lt=study.votes_per_pair,
                ).values("pk")
            ),
        )
        .values_list("n_voted", "n_reserved", "n_open", "n_open_seen")
        .get()
    )
    n_voted, n_reserved, n_open, n_open_seen = counts
    return Progress(voted=n_voted, available=n_voted + n_reserved + n_open - n_open_seen)
