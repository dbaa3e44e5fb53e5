"""Recording, and undoing, a rater's vote on the pair they were assigned.

A rater chooses by side ("A" is the left answer, "B" the right); the vote is stored relative to
the pair's canonical order (output_a / output_b) together with the output shown on the left.
Recording is idempotent: the unique (pair, rater) constraint is the guard, and a repeat (a double
click, a retry after a network error) returns the vote already stored instead of a new one.
"""

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, F, OuterRef, QuerySet
from django.utils import timezone

from evaluations.models import Pair, Study
from raters.assignment import RESERVATION_TTL
from raters.gold import membership_gold_flag_update
from raters.judgments import Answer, overall_allowed
from raters.models import Assignment, CriterionVote, Rater, Vote
from raters.pair_loads import pair_load_adjust, pair_load_exact
from raters.reading_time import text_words
from raters.speed import RecentVote, membership_speed_flag_update, membership_speed_flag_write
from raters.turns import PLACE_TAKING, prompt_turn_count, vote_turn_of
from raters.vote_sql import TIME_SLACK_MS, held_vote_record

UNDO_WINDOW = timedelta(minutes=2)
MAX_RATIONALE_CHARS = 4000


class VoteRejected(Exception):
    """The vote cannot be recorded; the message is safe to show the rater."""


# What the rater clicks -> what it means for the two sides.
SIDE_CHOICES = {"A", "B", "tie", "both_bad"}


@dataclass(frozen=True)
class VoteOutcome:
    vote: Vote
    created: bool
    # Whether the rater held another reservation in the study when voting (after an undo, the
    # pair they had been shown before); if not, the next pair is reserved without looking.
    holds_another: bool = True
    # Voting turn by turn: the pair's turns (the caller shows the next one if any is left).
    turn_count: int = 1


def choice_allowed(*, study: Study, side_choice: str) -> bool:
    if side_choice in {"A", "B"}:
        return True
    if side_choice == "tie":
        return study.allow_tie
    if side_choice == "both_bad":
        return study.allow_both_bad
    return False


def submission_allowed(
    *, study: Study, side_choice: str, strength: int | None, criteria: Mapping[str, Answer]
) -> bool:
    """The overall answer is offered, and every criterion of the study (and no other) answered.
    Criterion answers are checked against their options by raters.judgments.criteria_answers."""
    if side_choice not in SIDE_CHOICES:
        return False
    if not overall_allowed(study=study, answer=Answer(side=side_choice, strength=strength)):
        return False
    return set(criteria) == {c["key"] for c in study.criteria or []}


def _canonical_choice(*, pair: Pair, left_output_id: int, side_choice: str) -> str:
    if side_choice in {"tie", "both_bad"}:
        return Vote.Choice.TIE if side_choice == "tie" else Vote.Choice.BOTH_BAD
    left_is_a = left_output_id == pair.output_a_id
    picked_left = side_choice == "A"
    return Vote.Choice.A if picked_left == left_is_a else Vote.Choice.B


def side_choice_of(vote: Vote) -> str:
    """The inverse of the mapping above: what the rater clicked, "A", "B", "tie" or "both_bad"."""
    if vote.choice in {Vote.Choice.TIE, Vote.Choice.BOTH_BAD}:
        return str(vote.choice)
    picked_a = vote.choice == Vote.Choice.A
    left_is_a = vote.left_output_id == vote.pair.output_a_id
    return "A" if picked_a == left_is_a else "B"


def _time_spent(assignment: Assignment, reported_ms: int | None, now: datetime) -> int:
    seen_ms = max(0, int((now - assignment.shown_at).total_seconds() * 1000))
    if reported_ms is None or reported_ms < 0 or reported_ms > seen_ms + TIME_SLACK_MS:
        return seen_ms
    return reported_ms


def vote_record(
    *,
    rater: Rater,
    study: Study,
    public_id: str,
    side_choice: str,
    rationale: str = "",
    time_spent_ms: int | None = None,
    now: datetime | None = None,
    strength: int | None = None,
    criteria: Mapping[str, Answer] | None = None,
    turn: int | None = None,
) -> VoteOutcome:
    """Record the rater's vote on a pair assigned to them in this study, with its strength and
    its criteria's answers (raters.judgments) in studies that ask for them.

    In a study voted turn by turn, `turn` is the turn voted on (the first if None); turns are
    voted in order, each once (raters.turns). Raises Assignment.DoesNotExist when the pair is not
    theirs (the caller answers 404), and VoteRejected when it is theirs but cannot take a vote
    now.
    """
    now = now or timezone.now()
    criteria = dict(criteria or {})
    if side_choice in {"tie", "both_bad"}:
        strength = None
    allowed = submission_allowed(
        study=study, side_choice=side_choice, strength=strength, criteria=criteria
    )
    turn = vote_turn_of(study=study, requested=turn)
    if connection.vendor == "postgresql" and study.is_open and allowed:
        held = held_vote_record(
            rater=rater,
            study=study,
            public_id=public_id,
            side_choice=side_choice,
            rationale=rationale.strip()[:MAX_RATIONALE_CHARS],
            time_spent_ms=time_spent_ms,
            now=now,
            strength=strength,
            criteria=criteria,
            turn=turn,
        )
        if held is not None and held.vote is not None:
            vote = held.vote
            if held.is_gold:
                membership_gold_flag_update(rater=rater, study=study)
            elif vote.choice in (Vote.Choice.A, Vote.Choice.B) and held.stored_flagged is not None:
                this = RecentVote(
                    time_ms=vote.time_spent_ms,
                    answer_words=vote.answer_words,
                    picked_left=side_choice == "A",
                )
                membership_speed_flag_write(
                    rater=rater,
                    study=study,
                    recent=[this, *held.recent],
                    stored_flagged=held.stored_flagged,
                    stored_reason=held.stored_reason,
                )
            return VoteOutcome(
                vote=vote,
                created=True,
                holds_another=held.holds_another,
                turn_count=held.turn_count,
            )
        # Nothing written (a repeat, a pair not theirs, skipped or lapsed), or the reservation
        # turned VOTED but a vote was stored already: the general path below decides.
    assignment = (
        Assignment.objects.select_related("pair__prompt")
        # The pair's candidates, copied onto the vote for ranking, and whether the rater holds
        # another reservation, in the same query.
        .annotate(
            pair_candidate_a_id=F("pair__output_a__candidate_id"),
            pair_candidate_b_id=F("pair__output_b__candidate_id"),
            pair_text_a=F("pair__output_a__text"),
            pair_text_b=F("pair__output_b__text"),
            holds_another=Exists(
                Assignment.objects.filter(
                    rater=rater, study=study, state=Assignment.State.RESERVED
                ).exclude(pk=OuterRef("pk"))
            ),
        )
        .filter(rater=rater, study=study, pair__public_id=public_id)
        .first()
    )
    if assignment is not None and assignment.pair.is_gold:
        turn = None
    if assignment is None or assignment.state == Assignment.State.VOTED:
        # A repeat (or a vote written without an assignment): the stored vote, if any.
        existing = (
            Vote.objects.filter(rater=rater, pair__public_id=public_id, study=study, turn=turn)
            .select_related("pair")
            .first()
        )
        if existing is not None:
            return VoteOutcome(vote=existing, created=False)
        if assignment is None:
            raise Assignment.DoesNotExist
    if turn is not None and turn >= 2:
        return _later_turn_record(
            assignment=assignment,
            study=study,
            turn=turn,
            side_choice=side_choice,
            rationale=rationale,
            time_spent_ms=time_spent_ms,
            now=now,
        )
    if not study.is_open:
        raise VoteRejected("This study is closed to new votes.")
    if not allowed:
        raise VoteRejected("That choice is not offered in this study.")
    if assignment.state == Assignment.State.SKIPPED:
        raise VoteRejected("You skipped this pair.")
    pair = assignment.pair
    vote = Vote(
        study=study,
        pair=pair,
        rater=rater,
        choice=_canonical_choice(
            pair=pair, left_output_id=assignment.left_output_id, side_choice=side_choice
        ),
        left_output_id=assignment.left_output_id,
        time_spent_ms=_time_spent(assignment, time_spent_ms, now),
        rationale=rationale.strip()[:MAX_RATIONALE_CHARS],
        strength=strength,
        candidate_a_id=assignment.pair_candidate_a_id,
        candidate_b_id=assignment.pair_candidate_b_id,
        prompt_id=pair.prompt_id,
        turn=turn,
        answer_words=text_words(assignment.pair_text_a) + text_words(assignment.pair_text_b),
        picked_left={"A": True, "B": False}.get(side_choice),
    )
    lapsed = False
    try:
        with transaction.atomic():
            # A held reservation (even past its expiry) turns into the vote: the load is unchanged.
            held = Assignment.objects.filter(
                pk=assignment.pk, state__in=[Assignment.State.RESERVED, Assignment.State.EXPIRED]
            )
            recorded = bool(
                held.filter(state=Assignment.State.RESERVED).update(state=Assignment.State.VOTED)
            )
            if not recorded and pair.is_gold:
                recorded = bool(held.update(state=Assignment.State.VOTED))
            elif not recorded:
                # Its place was handed back meanwhile: the pair may have gone to others since.
                Pair.objects.select_for_update().filter(pk=pair.pk).first()
                lapsed = pair_load_exact(pair) >= study.votes_per_pair
                recorded = not lapsed and bool(held.update(state=Assignment.State.VOTED))
                if recorded:
                    pair_load_adjust(pair.pk, +1)
            if recorded:
                vote.save(force_insert=True)
                CriterionVote.objects.bulk_create(
                    CriterionVote(
                        vote=vote,
                        criterion=key,
                        choice=_canonical_choice(
                            pair=pair,
                            left_output_id=assignment.left_output_id,
                            side_choice=answer.side,
                        ),
                        strength=answer.strength,
                    )
                    for key, answer in criteria.items()
                )
    except IntegrityError:
        # A concurrent request for the same (pair, rater) won: return its vote.
        existing = Vote.objects.select_related("pair").get(rater=rater, pair=pair, turn=turn)
        return VoteOutcome(vote=existing, created=False)
    if not recorded and not lapsed:
        # A concurrent request for the same pair voted first (its assignment is VOTED).
        existing = (
            Vote.objects.select_related("pair").filter(rater=rater, pair=pair, turn=turn).first()
        )
        if existing is None:
            raise VoteRejected("This pair is no longer open to you; here is another.")
        return VoteOutcome(vote=existing, created=False)
    if lapsed:
        raise VoteRejected("This pair went to other raters while it sat open; here is another.")
    if pair.is_gold:
        membership_gold_flag_update(rater=rater, study=study)
    elif vote.choice in (Vote.Choice.A, Vote.Choice.B):
        membership_speed_flag_update(rater=rater, study=study)
    return VoteOutcome(
        vote=vote,
        created=True,
        holds_another=assignment.holds_another,
        turn_count=prompt_turn_count(pair.prompt),
    )


def _later_turn_record(
    *,
    assignment: Assignment,
    study: Study,
    turn: int,
    side_choice: str,
    rationale: str,
    time_spent_ms: int | None,
    now: datetime,
) -> VoteOutcome:
    """A vote on turn 2 or later: the pair's place is already the rater's (their turn-1 vote),
    so nothing but the vote row is written, and only for the turn after the last one voted."""
    if not study.is_open:
        raise VoteRejected("This study is closed to new votes.")
    if not choice_allowed(study=study, side_choice=side_choice):
        raise VoteRejected("That choice is not offered in this study.")
    pair = assignment.pair
    turn_count = prompt_turn_count(pair.prompt)
    if assignment.state != Assignment.State.VOTED or turn > turn_count:
        raise VoteRejected("That turn is not open to you; here is what is.")
    voted = Vote.objects.filter(rater=assignment.rater_id, pair=pair).count()
    if voted != turn - 1:
        raise VoteRejected("Turns are voted in order; here is the one to vote on.")
    vote = Vote(
        study=study,
        pair=pair,
        rater_id=assignment.rater_id,
        choice=_canonical_choice(
            pair=pair, left_output_id=assignment.left_output_id, side_choice=side_choice
        ),
        left_output_id=assignment.left_output_id,
        time_spent_ms=_time_spent(assignment, time_spent_ms, now),
        rationale=rationale.strip()[:MAX_RATIONALE_CHARS],
        candidate_a_id=assignment.pair_candidate_a_id,
        candidate_b_id=assignment.pair_candidate_b_id,
        prompt_id=pair.prompt_id,
        turn=turn,
    )
    try:
        with transaction.atomic():
            vote.save(force_insert=True)
    except IntegrityError:
        existing = Vote.objects.select_related("pair").get(
            rater=assignment.rater_id, pair=pair, turn=turn
        )
        return VoteOutcome(vote=existing, created=False, turn_count=turn_count)
    return VoteOutcome(
        vote=vote, created=True, holds_another=assignment.holds_another, turn_count=turn_count
    )


def vote_undoable(*, rater: Rater, study: Study, now: datetime | None = None) -> Vote | None:
    """The rater's newest vote in the study, if it is still young enough to undo."""
    now = now or timezone.now()
    return (
        Vote.objects.filter(rater=rater, study=study, created_at__gt=now - UNDO_WINDOW)
        .select_related("pair")
        .order_by("-created_at", "-pk")
        .first()
    )


def skip_undoable(*, rater: Rater, study: Study, now: datetime | None = None) -> Assignment | None:
    """The rater's newest skip in the study, if it is still young enough to undo."""
    now = now or timezone.now()
    return (
        Assignment.objects.filter(
            rater=rater,
            study=study,
            state=Assignment.State.SKIPPED,
            skipped_at__gt=now - UNDO_WINDOW,
        )
        .select_related("pair")
        .order_by("-skipped_at", "-pk")
        .first()
    )


def vote_undo_possible(*, rater: Rater, study: Study, now: datetime | None = None) -> bool:
    """Whether action_undo would find a vote or a skip to take back (the panel's Undo button)."""
    now = now or timezone.now()
    recent = now - UNDO_WINDOW
    return (
        Vote.objects.filter(rater=rater, study=study, created_at__gt=recent).exists()
        or Assignment.objects.filter(
            rater=rater, study=study, state=Assignment.State.SKIPPED, skipped_at__gt=recent
        ).exists()
    )


@dataclass(frozen=True)
class UndoOutcome:
    assignment: Assignment
    undid: str  # "vote" or "skip"


def action_undo(*, rater: Rater, study: Study, now: datetime | None = None) -> UndoOutcome:
    """Take back the rater's last action, a vote or a skip, and show them that pair again."""
    now = now or timezone.now()
    if not study.is_open:
        raise VoteRejected("This study is closed; votes can no longer be changed.")
    vote = vote_undoable(rater=rater, study=study, now=now)
    skipped = skip_undoable(rater=rater, study=study, now=now)
    if skipped is not None and (vote is None or skipped.skipped_at > vote.created_at):
        return UndoOutcome(assignment=_skip_undo(skipped, study=study, now=now), undid="skip")
    return UndoOutcome(assignment=vote_undo(rater=rater, study=study, now=now), undid="vote")


def _skip_undo(assignment: Assignment, *, study: Study, now: datetime) -> Assignment:
    pair = assignment.pair
    with transaction.atomic():
        Pair.objects.select_for_update().filter(pk=pair.pk).first()
        # The skip gave its place back; others may have filled the pair since.
        full = not pair.is_gold and pair_load_exact(pair) >= study.votes_per_pair
        restored = not full and Assignment.objects.filter(
            pk=assignment.pk, state=Assignment.State.SKIPPED
        ).update(
            state=Assignment.State.RESERVED,
            expires_at=now + RESERVATION_TTL,
            shown_at=now,
            skipped_at=None,
        )
        if restored and not pair.is_gold:
            pair_load_adjust(pair.pk, +1)
    if full:
        # Not undoable again: the next Undo reaches the action before it.
        Assignment.objects.filter(pk=assignment.pk).update(skipped_at=None)
        raise VoteRejected("The pair you skipped went to other raters meanwhile.")
    if not restored:
        raise VoteRejected("There is no recent skip to undo.")
    return Assignment.objects.get(pk=assignment.pk)


def vote_undo(*, rater: Rater, study: Study, now: datetime | None = None) -> Assignment:
    """Take back the rater's last vote and put its pair in front of them again, same sides."""
    now = now or timezone.now()
    if not study.is_open:
        raise VoteRejected("This study is closed; votes can no longer be changed.")
    vote = vote_undoable(rater=rater, study=study, now=now)
    if vote is None:
        raise VoteRejected("There is no recent vote to undo.")
    with transaction.atomic():
        deleted, _ = Vote.objects.filter(pk=vote.pk).delete()
        if not deleted:
            raise VoteRejected("There is no recent vote to undo.")
        if vote.turn is not None and vote.turn >= 2:
            # The turn-1 vote still holds the pair's place: the pair is pending at this turn.
            Assignment.objects.filter(rater=rater, pair_id=vote.pair_id).update(
                state=Assignment.State.VOTED, shown_at=now
            )
        else:
            # The vote's place becomes a reservation again, so it still counts towards the
            # target.
            Assignment.objects.filter(rater=rater, pair_id=vote.pair_id).update(
                state=Assignment.State.RESERVED, expires_at=now + RESERVATION_TTL, shown_at=now
            )
    if vote.pair.is_gold:
        membership_gold_flag_update(rater=rater, study=study)
    return Assignment.objects.get(rater=rater, pair_id=vote.pair_id)


def votes_delete(votes: QuerySet[Vote]) -> int:
    """Discard votes (a researcher removing a careless rater's work). Returns how many.

    Each pair gives back the place the vote held, so another rater can fill it; the rater who
    cast it is not shown that pair again (the assignment stays, as skipped).
    """
    with transaction.atomic():
        ids = list(votes.values_list("pk", flat=True))
        rows = list(
            Vote.objects.select_for_update(of=("self",))
            .filter(pk__in=ids)
            .values_list("pk", "rater_id", "pair_id", "study_id")
        )
        # Only a rater's first vote on a pair holds a place in its load (raters.turns).
        places = set(
            Vote.objects.filter(PLACE_TAKING, pk__in=[pk for pk, *_ in rows]).values_list(
                "pk", flat=True
            )
        )
        if not rows:
            return 0
        Vote.objects.filter(pk__in=[pk for pk, *_ in rows]).delete()
        for _, rater_id, pair_id, _ in rows:
            Assignment.objects.filter(rater_id=rater_id, pair_id=pair_id).update(
                state=Assignment.State.SKIPPED
            )
        pair_ids = {pair_id for _, _, pair_id, _ in rows}
        regular = set(
            Pair.objects.filter(pk__in=pair_ids, gold_answer="").values_list("pk", flat=True)
        )
        # In id order, like every other load writer, so that no two wait on each other crosswise.
        counts = Counter(p for pk, _, p, _ in rows if p in regular and pk in places)
        for pair_id, n in sorted(counts.items()):
            pair_load_adjust(pair_id, -n)
        gold_raters = {(r, s) for _, r, p, s in rows if p not in regular}
    for rater in Rater.objects.filter(pk__in={r for r, _ in gold_raters}):
        for study in Study.objects.filter(pk__in={s for r, s in gold_raters if r == rater.pk}):
            membership_gold_flag_update(rater=rater, study=study)
    return len(rows)
