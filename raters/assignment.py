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
from datetime import datetime, timedelta
from itertools import combinations

from django.db import IntegrityError, connection, transaction
from django.db.models import (
    Exists,
    F,
    OuterRef,
    Q,
    QuerySet,
)
from django.utils import timezone

from evaluations.models import Candidate, Output, Pair, Study
from raters import reservation_sql
from raters.models import Assignment, Rater, Vote
from raters.pair_loads import (
    PairCounts,
    assignments_reclaim_lapsed,
    pair_counts,
    pair_load_adjust,
    study_pair_loads_recount,
)

RESERVATION_TTL = timedelta(minutes=20)
# Candidates locked and ranked per request: enough to span every model pair of a few prompts,
# few enough that raters arriving together mostly lock disjoint sets.
CANDIDATE_POOL = 24
# Rounds retried after a reservation collided with one the rater made meanwhile in another tab.
MAX_COLLISIONS = 3

ModelPair = tuple[int, int]


def _stable_int(*parts: object) -> int:
    digest = hashlib.blake2b(":".join(str(p) for p in parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def _choose_left_output_id(*, study: Study, rater: Rater, pair: Pair, counts: PairCounts) -> int:
    """Show each output on the left for half of the pair's raters; a seeded coin breaks ties.

    Called with the pair locked, so concurrent raters see each other's sides. The coin is keyed
    by (study seed, rater, pair): the first rater of a pair is as likely to see either output on
    the left, so the canonical order (output_a / output_b) never shows through.
    """
    if counts.on_a != counts.on_b:
        return pair.output_a_id if counts.on_a < counts.on_b else pair.output_b_id
    coin = _stable_int("side", study.seed, rater.pk, pair.pk) % 2
    return pair.output_a_id if coin == 0 else pair.output_b_id


def _reserve(
    *, study: Study, rater: Rater, pair: Pair, counts: PairCounts, now: datetime
) -> Assignment:
    """Reserve the locked pair for the rater, inside the caller's transaction.

    Raises IntegrityError if they hold it already (another tab reserved it meanwhile): the
    caller rolls its transaction back and looks again, and the pair, theirs now, is no longer
    a candidate. No savepoint, which would cost two round trips on every reservation.
    """
    assignment = Assignment.objects.create(
        study=study,
        pair=pair,
        rater=rater,
        left_output_id=_choose_left_output_id(study=study, rater=rater, pair=pair, counts=counts),
        is_gold=pair.is_gold,
        expires_at=now + RESERVATION_TTL,
        shown_at=now,
    )
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
        try:
            with transaction.atomic():
                pair = Pair.objects.select_for_update(skip_locked=True).filter(pk=pk).first()
                if pair is None:
                    continue
                return _reserve(
                    study=study, rater=rater, pair=pair, counts=pair_counts(pair), now=now
                )
        except IntegrityError:
            continue  # theirs already (another tab)
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


def _seen_model_pairs_sql() -> str:
    # The rater's regular assignments counted by model pair: written out, for the same reason
    # as _pair_counts_sql (the ORM's compilation of this join cost 1 ms per reservation).
    q = connection.ops.quote_name
    assignment, pair, output = (q(model._meta.db_table) for model in (Assignment, Pair, Output))
    candidate = q("candidate_id")
    return (
        f"SELECT oa.{candidate}, ob.{candidate}, COUNT(*) FROM {assignment} a"
        f" INNER JOIN {pair} p ON p.{q('id')} = a.{q('pair_id')}"
        f" INNER JOIN {output} oa ON oa.{q('id')} = p.{q('output_a_id')}"
        f" INNER JOIN {output} ob ON ob.{q('id')} = p.{q('output_b_id')}"
        f" WHERE a.{q('rater_id')} = %(rater)s AND a.{q('study_id')} = %(study)s"
        f" AND a.{q('is_gold')} = %(gold)s"
        f" GROUP BY oa.{candidate}, ob.{candidate}"
    )


def _rank(*, study: Study, rater: Rater, pool: list[Pair]) -> list[Pair]:
    """Fewest load first; among equals, the model pair and prompt this rater has seen least.

    Over the study the pool is the lowest-loaded pairs in pair order, so every pair gets its
    n-th vote before any gets its n+1-th and all model pairs of a prompt advance together; the
    per-rater balance spreads each rater's work across model pairs and prompts.
    """
    params = {"rater": rater.pk, "study": study.pk, "gold": False}
    with connection.cursor() as cursor:
        cursor.execute(_seen_model_pairs_sql(), params)
        rows = cursor.fetchall()
    by_model_pair: Counter[ModelPair] = Counter()
    for ca, cb, n in rows:  # a model pair may come in both orders
        by_model_pair[(min(ca, cb), max(ca, cb))] += n
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
    collisions = 0
    while True:
        found_any = False
        for skip_locked in (True, False):
            try:
                with transaction.atomic():
                    if skip_locked:
                        locking = related.select_for_update(skip_locked=True, of=("self",))
                        pool = list(locking[:CANDIDATE_POOL])
                    else:
                        # Wait for the single best pair, by its id: a waiting query over several
                        # rows could lock them in a different order from another rater's and
                        # deadlock.
                        first = candidates.values_list("pk", flat=True).first()
                        pool = list(related.select_for_update(of=("self",)).filter(pk=first))
                    found_any = bool(pool)
                    ranked = _rank(study=study, rater=rater, pool=pool) if len(pool) > 1 else pool
                    for pair in ranked:
                        counts = pair_counts(pair)
                        if counts.load != pair.load:
                            Pair.objects.filter(pk=pair.pk).update(load=counts.load)
                            pair.load = counts.load
                        if counts.load >= study.votes_per_pair:
                            continue
                        return _reserve(study=study, rater=rater, pair=pair, counts=counts, now=now)
            except IntegrityError:
                # The rater reserved one of these pairs meanwhile (another tab): the round was
                # rolled back, and that pair is no longer a candidate for the next one. Anything
                # that keeps failing (the rater deleted meanwhile, say) is not that.
                collisions += 1
                if collisions > MAX_COLLISIONS:
                    raise
                found_any = True
                break
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


def _reserves_in_one_statement(study: Study) -> bool:
    # Data-modifying CTEs and SKIP LOCKED are PostgreSQL's; adaptive studies filter the
    # candidates by model pair, which the ORM path does.
    return connection.vendor == "postgresql" and not study.adaptive_assignment


def _assign_regular_in_one_statement(
    *, study: Study, rater: Rater, now: datetime
) -> tuple[Assignment | None, bool]:
    """_try_reserve's first (skip-locked) round in one statement (raters/reservation_sql.py).
    Returns the reservation with its texts, and whether lapsed reservations await reclaiming."""
    reserved = reservation_sql.regular_pair_reserve(
        study=study,
        rater=rater,
        now=now,
        expires_at=now + RESERVATION_TTL,
        pool_size=CANDIDATE_POOL,
    )
    if reserved is None:
        return None, False
    return reserved.assignment, reserved.lapsed_seen


def _renew(assignment: Assignment, now: datetime) -> bool:
    """Extend a lapsed reservation that still holds its place (nobody reclaimed it)."""
    return bool(
        Assignment.objects.filter(pk=assignment.pk, state=Assignment.State.RESERVED).update(
            expires_at=now + RESERVATION_TTL
        )
    )


_WITH_TEXTS = ("pair__prompt", "pair__output_a", "pair__output_b")
# What the panel reads of them: an output row also holds its unscrubbed text and its metadata.
# The conversation fields too: whether the prompt is a conversation is read on every panel,
# and leaving them deferred cost two queries per page.
_PANEL_FIELDS = (
    *(f.name for f in Assignment._meta.concrete_fields),
    *(f"pair__{f.name}" for f in Pair._meta.concrete_fields),
    "pair__prompt__study_id",
    "pair__prompt__text",
    "pair__prompt__context",
    "pair__prompt__messages",
    "pair__prompt__turns",
    "pair__output_a__text",
    "pair__output_a__turns",
    "pair__output_b__text",
    "pair__output_b__turns",
)


def assignment_current(*, rater: Rater, study: Study) -> Assignment | None:
    """The rater's open reservation in the study, the newest first (after an undo, that one)."""
    current = (
        Assignment.objects.filter(rater=rater, study=study, state=Assignment.State.RESERVED)
        .select_related(*_WITH_TEXTS)
        .only(*_PANEL_FIELDS)
        .order_by("-shown_at", "-pk")
        .first()
    )
    if current is not None:
        current.study = study
    return current


def assignment_next(
    *, rater: Rater, study: Study, now: datetime | None = None, none_held: bool = False
) -> Assignment | None:
    """The pair the rater should judge now: their open reservation, or a newly reserved pair.

    Returns None when nothing is left for them (every pair at its target or already theirs).
    none_held: the caller has just seen that the rater holds no reservation (they voted on
    their only one), so the look-up is skipped. Were another tab of theirs to reserve a pair
    meanwhile, they would hold two reservations, each counted in its pair's load, and be shown
    the newer one first.
    """
    now = now or timezone.now()
    while not none_held and (current := assignment_current(rater=rater, study=study)) is not None:
        if current.expires_at > now:
            return current
        # Lapsed but not yet reclaimed by anyone: its place is still held, so it is theirs again.
        if _renew(current, now):
            current.refresh_from_db(fields=["expires_at"])
            return current
    if not study.is_open:
        return None
    gold_due = _gold_due(study=study, rater=rater)
    if not gold_due and _reserves_in_one_statement(study):
        assignment, lapsed_seen = _assign_regular_in_one_statement(
            study=study, rater=rater, now=now
        )
        if lapsed_seen:
            assignments_reclaim_lapsed(study=study, now=now)
        if assignment is not None:
            return assignment
        # Nothing free in the first pool, or its best pair was reserved by another tab of
        # theirs meanwhile: the general path below reclaims lapsed places, waits for a locked
        # pair and repairs stale loads.
    assignments_reclaim_lapsed(study=study, now=now)
    assignment = None
    if gold_due:
        assignment = _assign_gold(study=study, rater=rater, now=now)
    if assignment is None:
        assignment = _assign_regular(study=study, rater=rater, now=now)
    if assignment is None and study_pair_loads_recount(study=study):
        assignment = _assign_regular(study=study, rater=rater, now=now)
    if assignment is None:
        return None
    # Again, with the texts the panel shows.
    reserved = (
        Assignment.objects.select_related(*_WITH_TEXTS).only(*_PANEL_FIELDS).get(pk=assignment.pk)
    )
    reserved.study = study
    return reserved


def assignment_skip(*, rater: Rater, study: Study, public_id: str) -> bool:
    """Skip the rater's reserved pair: it frees its place and is never shown to them again."""
    with transaction.atomic():
        assignment = (
            Assignment.objects.select_for_update()
            .filter(rater=rater, study=study, pair__public_id=public_id)
            .filter(state__in=[Assignment.State.RESERVED, Assignment.State.EXPIRED])
            .first()
        )
        if assignment is None and study.vote_each_turn:
            # The rest of a conversation voted turn by turn: its first turn's vote keeps the
            # pair's place, so the load stays; not a skip Undo takes back (that is the vote).
            return bool(
                Assignment.objects.filter(
                    rater=rater,
                    study=study,
                    pair__public_id=public_id,
                    state=Assignment.State.VOTED,
                ).update(state=Assignment.State.SKIPPED)
            )
        if assignment is None:
            return False
        Assignment.objects.filter(pk=assignment.pk).update(
            state=Assignment.State.SKIPPED, skipped_at=timezone.now()
        )
        if assignment.state == Assignment.State.RESERVED and not assignment.is_gold:
            pair_load_adjust(assignment.pair_id, -1)
    return True
