"""Which pair a rater sees next, on which side, and the short reservation that holds its place.

Invariants:
- A rater is assigned a pair at most once (unique (rater, pair) on Assignment), so they never
  see it twice, whether they voted on it or skipped it.
- A regular pair's load is its votes plus its unexpired reservations; a pair is reserved only
  while holding its row lock and only when its load is below the study's votes-per-pair target,
  so raters working at once never push it past the target. On PostgreSQL the lock is
  SELECT ... FOR UPDATE SKIP LOCKED (a rater racing another just takes the next pair); SQLite
  serialises write transactions anyway.
- Gold pairs have no target: every rater should meet them, at the study's gold rate.
"""

import hashlib
import random
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import Count, F, IntegerField, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from evaluations.models import Pair, Study
from raters.models import Assignment, Rater, Vote

RESERVATION_TTL = timedelta(minutes=20)
# How many of the best-ranked pairs to try to lock before giving up for this request.
MAX_LOCK_ATTEMPTS = 50

ModelPair = tuple[int, int]


@dataclass(frozen=True)
class PairLoad:
    pair_id: int
    prompt_id: int
    model_pair: ModelPair
    votes: int
    reserved: int

    @property
    def load(self) -> int:
        return self.votes + self.reserved


def _stable_int(*parts: object) -> int:
    digest = hashlib.blake2b(":".join(str(p) for p in parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def _count_subquery(queryset, field: str = "pair") -> Coalesce:
    return Coalesce(
        Subquery(
            queryset.filter(**{field: OuterRef("pk")})
            .order_by()
            .values(field)
            .annotate(n=Count("pk"))
            .values("n")[:1],
            output_field=IntegerField(),
        ),
        Value(0),
    )


def _active_reservations(now: datetime):
    return Assignment.objects.filter(state=Assignment.State.RESERVED, expires_at__gt=now)


def pair_loads(*, study: Study, now: datetime | None = None, gold: bool = False) -> list[PairLoad]:
    """Votes and live reservations of every regular (or, with gold=True, gold) pair: one query."""
    now = now or timezone.now()
    pairs = Pair.objects.filter(study=study)
    pairs = pairs.exclude(gold_answer="") if gold else pairs.filter(gold_answer="")
    rows = pairs.annotate(
        n_votes=_count_subquery(Vote.objects.all()),
        n_reserved=_count_subquery(_active_reservations(now)),
    ).values_list(
        "pk", "prompt_id", "output_a__candidate_id", "output_b__candidate_id", "n_votes",
        "n_reserved",
    )  # fmt: skip
    return [
        PairLoad(
            pair_id=pk,
            prompt_id=prompt_id,
            model_pair=(min(ca, cb), max(ca, cb)),
            votes=votes,
            reserved=reserved,
        )
        for pk, prompt_id, ca, cb, votes, reserved in rows
    ]


def _pair_load_locked(pair_id: int, now: datetime, exclude_assignment: int | None = None) -> int:
    reservations = _active_reservations(now).filter(pair_id=pair_id)
    if exclude_assignment is not None:
        reservations = reservations.exclude(pk=exclude_assignment)
    return Vote.objects.filter(pair_id=pair_id).count() + reservations.count()


def _lock_pair(pair_id: int, *, wait: bool = False) -> Pair | None:
    """Lock the pair's row; without wait, None if another transaction holds it (PostgreSQL)."""
    return Pair.objects.select_for_update(skip_locked=not wait).filter(pk=pair_id).first()


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
    left_output_id = _choose_left_output_id(study=study, rater=rater, pair=pair)
    try:
        with transaction.atomic():
            return Assignment.objects.create(
                study=study,
                pair=pair,
                rater=rater,
                left_output_id=left_output_id,
                is_gold=pair.is_gold,
                expires_at=now + RESERVATION_TTL,
                shown_at=now,
            )
    except IntegrityError:
        # The same rater in another tab took this pair a moment ago.
        return None


def _ranked_regular(
    *, study: Study, rater: Rater, loads: list[PairLoad], seen: set[int]
) -> list[PairLoad]:
    """Fewest votes first; among equals, the least-voted model pair, then the least-voted prompt.

    In adaptive mode, once every pair has a vote, pairs whose two models are hardest to tell
    apart come first (see raters.adaptive).
    """
    target = study.votes_per_pair
    by_model_pair: dict[ModelPair, int] = defaultdict(int)
    by_prompt: dict[int, int] = defaultdict(int)
    for row in loads:
        by_model_pair[row.model_pair] += row.load
        by_prompt[row.prompt_id] += row.load
    eligible = [row for row in loads if row.load < target and row.pair_id not in seen]

    difficulty: Callable[[ModelPair], float] = lambda _mp: 0.0  # noqa: E731
    if study.adaptive_assignment and loads and min(row.votes for row in loads) >= 1:
        from raters.adaptive import model_pair_separation

        separation = model_pair_separation(study=study)
        difficulty = lambda mp: separation.get(mp, 0.0)  # noqa: E731

    return sorted(
        eligible,
        key=lambda row: (
            difficulty(row.model_pair),
            row.load,
            by_model_pair[row.model_pair],
            by_prompt[row.prompt_id],
            _stable_int("order", study.seed, rater.pk, row.pair_id),
        ),
    )


def _gold_due(*, study: Study, rater: Rater, n_assigned: int) -> bool:
    if study.gold_rate <= 0:
        return False
    coin = random.Random(_stable_int("gold", study.seed, rater.pk, n_assigned))  # noqa: S311
    return coin.random() < study.gold_rate


def _assign_gold(*, study: Study, rater: Rater, seen: set[int], now: datetime) -> Assignment | None:
    gold = Pair.objects.filter(study=study).exclude(gold_answer="")
    gold_ids = [pk for pk in gold.values_list("pk", flat=True) if pk not in seen]
    gold_ids.sort(key=lambda pk: _stable_int("gold-order", study.seed, rater.pk, pk))
    for pk in gold_ids[:MAX_LOCK_ATTEMPTS]:
        with transaction.atomic():
            pair = _lock_pair(pk)
            if pair is None:
                continue
            assignment = _reserve(study=study, rater=rater, pair=pair, now=now)
            if assignment is not None:
                return assignment
    return None


def _assign_regular(
    *, study: Study, rater: Rater, seen: set[int], now: datetime
) -> Assignment | None:
    loads = pair_loads(study=study, now=now)
    ranked = _ranked_regular(study=study, rater=rater, loads=loads, seen=seen)
    first_choices = [row.pair_id for row in ranked[:MAX_LOCK_ATTEMPTS]]
    busy: list[int] = []
    # The first pass passes over pairs being given to another rater this instant; if that
    # leaves nothing, wait for those locks rather than tell the rater nothing is left.
    for wait, pair_ids in ((False, first_choices), (True, busy)):
        for pair_id in pair_ids:
            with transaction.atomic():
                pair = _lock_pair(pair_id, wait=wait)
                if pair is None:
                    busy.append(pair_id)
                    continue
                # The load read above may be stale: recount it under the lock.
                if _pair_load_locked(pair.pk, now) >= study.votes_per_pair:
                    continue
                assignment = _reserve(study=study, rater=rater, pair=pair, now=now)
                if assignment is not None:
                    return assignment
    return None


def _renew(assignment: Assignment, now: datetime) -> bool:
    """Give an expired reservation back to its rater if the pair still has room."""
    with transaction.atomic():
        pair = Pair.objects.select_for_update().get(pk=assignment.pair_id)
        room = pair.is_gold or (
            _pair_load_locked(pair.pk, now, exclude_assignment=assignment.pk)
            < assignment.study.votes_per_pair
        )
        if room:
            Assignment.objects.filter(pk=assignment.pk, state=Assignment.State.RESERVED).update(
                expires_at=now + RESERVATION_TTL
            )
        else:
            # Others filled the pair meanwhile; forget this reservation so it is not in the way.
            Assignment.objects.filter(pk=assignment.pk, state=Assignment.State.RESERVED).delete()
    return room


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
        if _renew(current, now):
            current.refresh_from_db(fields=["expires_at"])
            return current
    if not study.is_open:
        return None
    seen = set(
        Assignment.objects.filter(rater=rater, study=study).values_list("pair_id", flat=True)
    )
    assignment = None
    if _gold_due(study=study, rater=rater, n_assigned=len(seen)):
        assignment = _assign_gold(study=study, rater=rater, seen=seen, now=now)
    if assignment is None:
        assignment = _assign_regular(study=study, rater=rater, seen=seen, now=now)
    if assignment is None:
        return None
    return assignment_current(rater=rater, study=study)


def assignment_skip(*, rater: Rater, study: Study, public_id: str) -> bool:
    """Skip the rater's reserved pair: it frees its place and is never shown to them again."""
    updated = Assignment.objects.filter(
        rater=rater, study=study, pair__public_id=public_id, state=Assignment.State.RESERVED
    ).update(state=Assignment.State.SKIPPED)
    return bool(updated)


@dataclass(frozen=True)
class Progress:
    voted: int
    available: int

    @property
    def percent(self) -> int:
        return round(100 * self.voted / self.available) if self.available else 0


def rater_progress(*, rater: Rater, study: Study, now: datetime | None = None) -> Progress:
    """Votes cast, and votes castable: those plus reserved pairs plus pairs still open to them.

    "Available" shrinks as others fill pairs to their target; gold pairs count once voted.
    """
    now = now or timezone.now()
    voted = Vote.objects.filter(rater=rater, study=study).count()
    if not study.is_open:
        return Progress(voted=voted, available=voted)
    reserved = Assignment.objects.filter(
        rater=rater, study=study, state=Assignment.State.RESERVED
    ).count()
    open_pairs = (
        Pair.objects.filter(study=study, gold_answer="")
        .exclude(Q(assignments__rater=rater))
        .annotate(
            n_votes=_count_subquery(Vote.objects.all()),
            n_reserved=_count_subquery(_active_reservations(now)),
        )
        .annotate(load=F("n_votes") + F("n_reserved"))
        .filter(load__lt=study.votes_per_pair)
        .count()
    )
    return Progress(voted=voted, available=voted + reserved + open_pairs)
