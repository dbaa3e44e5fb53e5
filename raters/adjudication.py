"""The adjudication queue: contested pairs go to the study's senior rater, whose verdict is kept
apart from the votes.

A pair is contested when its most common answer has less than the study's
adjudication_threshold share of its votes, once it has all the votes it was to get
(votes_per_pair, or what it has when the study is closed) and at least two. Gold pairs are never
queued. A senior does not see the raters' votes (the verdict is blind, like a vote) and is not
given a pair they voted on themselves. One verdict per pair: with two seniors, the first stands.
A verdict can become the pair's gold answer (adjudications_to_gold) or its label in the
preference export (research/preferences, adjudicated=true).
"""

from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import Count, F, FloatField, Q, QuerySet
from django.db.models.functions import Cast, Greatest
from django.utils.crypto import salted_hmac

from evaluations.models import Pair, Study
from raters.models import Adjudication, Membership, Vote
from raters.speed import membership_flags_update
from raters.voting import MAX_RATIONALE_CHARS, choice_allowed

CHOICES = (Vote.Choice.A, Vote.Choice.B, Vote.Choice.TIE, Vote.Choice.BOTH_BAD)


class AdjudicationRejected(Exception):
    """The verdict cannot be recorded; the message is safe to show the senior rater."""


def contested_pairs(*, study: Study) -> QuerySet[Pair]:
    """The study's pairs whose raters disagree beyond its threshold, most contested first,
    annotated with votes and agreement (the most common answer's share)."""
    if study.adjudication_threshold is None:
        return Pair.objects.none()
    counts = {f"n_{choice}": Count("votes", filter=Q(votes__choice=choice)) for choice in CHOICES}
    pairs = (
        Pair.objects.filter(study=study, gold_answer="")
        .annotate(n_votes=Count("votes"), **counts)
        .annotate(
            agreement=Cast(Greatest(*(F(name) for name in counts)), FloatField())
            / Cast(F("n_votes"), FloatField())
        )
        .filter(n_votes__gte=2, agreement__lt=study.adjudication_threshold)
    )
    if study.status != Study.Status.CLOSED:
        pairs = pairs.filter(n_votes__gte=study.votes_per_pair)
    return pairs.order_by("agreement", "id")


def adjudication_queue(*, membership: Membership) -> QuerySet[Pair]:
    """The contested pairs still waiting for a verdict that this senior may give."""
    if not membership.senior:
        return Pair.objects.none()
    return (
        contested_pairs(study=membership.study)
        .filter(adjudication__isnull=True)
        .exclude(pk__in=Vote.objects.filter(rater_id=membership.rater_id).values("pair_id"))
    )


def adjudication_left_output_id(membership: Membership, pair: Pair) -> int:
    """The side each answer is shown on: fixed per senior and pair (a reload shows the same),
    unpredictable without the server's key."""
    digest = salted_hmac("adjudication-side", f"{membership.pk}:{pair.public_id}").digest()
    return pair.output_a_id if digest[0] % 2 == 0 else pair.output_b_id


@dataclass(frozen=True)
class AdjudicationPair:
    pair: Pair
    left_output_id: int
    waiting: int


def adjudication_next(*, membership: Membership) -> AdjudicationPair | None:
    queue = adjudication_queue(membership=membership)
    waiting = queue.count()
    pair = queue.select_related("prompt", "output_a", "output_b").first() if waiting else None
    if pair is None:
        return None
    return AdjudicationPair(pair, adjudication_left_output_id(membership, pair), waiting)


def _canonical(side_choice: str, *, pair: Pair, left_output_id: int) -> str:
    if side_choice in ("tie", "both_bad"):
        return side_choice
    left_is_a = left_output_id == pair.output_a_id
    return Vote.Choice.A if (side_choice == "A") == left_is_a else Vote.Choice.B


def adjudication_record(
    *,
    membership: Membership,
    public_id: str,
    side_choice: str,
    rationale: str = "",
    time_spent_ms: int | None = None,
) -> Adjudication:
    """Record the senior's verdict on a pair of their queue. Pair.DoesNotExist when the pair is
    not in it (not contested, another study's, one they voted on); AdjudicationRejected when it
    cannot be taken now (decided meanwhile, a choice the study does not offer)."""
    study = membership.study
    if not choice_allowed(study=study, side_choice=side_choice):
        raise AdjudicationRejected("That choice is not offered in this study.")
    if Adjudication.objects.filter(pair__public_id=public_id, study=study).exists():
        raise AdjudicationRejected("Another senior rater decided this pair meanwhile.")
    pair = adjudication_queue(membership=membership).filter(public_id=public_id).first()
    if pair is None:
        raise Pair.DoesNotExist
    left = adjudication_left_output_id(membership, pair)
    try:
        with transaction.atomic():
            return Adjudication.objects.create(
                study=study,
                pair=pair,
                rater_id=membership.rater_id,
                choice=_canonical(side_choice, pair=pair, left_output_id=left),
                left_output_id=left,
                rationale=rationale.strip()[:MAX_RATIONALE_CHARS],
                time_spent_ms=time_spent_ms,
            )
    except IntegrityError as error:
        raise AdjudicationRejected("Another senior rater decided this pair meanwhile.") from error


def adjudications_to_gold(adjudications: QuerySet[Adjudication]) -> int:
    """Make each adjudicated pair a gold pair with the verdict as its answer (and the senior's
    reason as its explanation, unless it has one). The raters' votes on it then count as gold
    votes, no longer in the ranking; their gold accuracy and flags are recomputed."""
    changed = 0
    touched: set[tuple[int, int]] = set()
    for adjudication in adjudications.select_related("pair", "study"):
        pair = adjudication.pair
        pair.gold_answer = adjudication.choice
        if not pair.gold_explanation:
            pair.gold_explanation = adjudication.rationale
        pair.save(update_fields=["gold_answer", "gold_explanation"])  # signals: results stale
        changed += 1
        touched |= set(
            Vote.objects.filter(pair=pair).values_list("rater_id", "study_id").distinct()
        )
    for membership in Membership.objects.filter(
        rater_id__in={r for r, _ in touched}, study_id__in={s for _, s in touched}
    ).select_related("rater", "study"):
        if (membership.rater_id, membership.study_id) in touched:
            membership_flags_update(rater=membership.rater, study=membership.study)
    return changed
