"""Voting a multi-turn conversation turn by turn (a study's `vote_each_turn`).

A rater's first vote on a pair (turn 1) turns their reservation into a vote as any vote does and
takes the pair's place; turns 2, 3, ... are further votes by the same rater on the same pair,
each recording its turn, and take no place of their own (Pair.load counts a rater's first vote
only). Between turns the pair is *pending* for the rater: their newest vote in the study is on
it, its assignment is VOTED and turns are left. A pending turn is shown before any new pair.
"""

from dataclasses import dataclass

from django.db.models import Q

from evaluations.models import Pair, Prompt, Study
from raters.models import Assignment, Rater, Vote

# A rater's vote that takes a place in its pair's load: the only vote on it, or its first turn.
PLACE_TAKING = Q(turn__isnull=True) | Q(turn=1)
PLACE_TAKING_SQL = "(turn IS NULL OR turn = 1)"


def prompt_turn_count(prompt: Prompt) -> int:
    """Turns a rater votes on: the scripted user turns, or one (a fixed history, a text)."""
    return max(1, len(prompt.turns or []))


def vote_turn_of(*, study: Study, requested: int | None) -> int | None:
    """The turn a vote records: None in a study voted per conversation, else the turn asked
    for (the first when the page sent none)."""
    if not study.vote_each_turn:
        return None
    return requested or 1


@dataclass(frozen=True)
class PendingTurn:
    assignment: Assignment  # VOTED, with its pair, prompt and outputs loaded
    turn: int  # the turn to vote on now
    turn_count: int


def turn_after(*, vote: Vote, study: Study) -> int | None:
    """The next turn of the vote's pair for its rater, or None when the pair is done."""
    if vote.turn is None or not study.vote_each_turn:
        return None
    return vote.turn + 1


def turn_pending(*, rater: Rater, study: Study) -> PendingTurn | None:
    """The pair whose next turn the rater should vote on now, if any (see the docstring)."""
    if not study.vote_each_turn:
        return None
    newest = (
        Vote.objects.filter(rater=rater, study=study)
        .order_by("-created_at", "-pk")
        .values_list("pair_id", "turn")
        .first()
    )
    if newest is None or newest[1] is None:
        return None
    pair_id, turn = newest
    assignment = (
        Assignment.objects.filter(rater=rater, pair_id=pair_id, state=Assignment.State.VOTED)
        .select_related("pair__prompt", "pair__output_a", "pair__output_b")
        .first()
    )
    if assignment is None:
        return None
    count = prompt_turn_count(assignment.pair.prompt)
    if turn >= count:
        return None
    assignment.study = study
    return PendingTurn(assignment=assignment, turn=turn + 1, turn_count=count)


def pending_turn_load(*, rater: Rater, study: Study, pair: Pair, turn: int) -> PendingTurn | None:
    """The pair just voted on, at the next turn, when it has one (after a vote: no look-up of
    the newest vote)."""
    assignment = (
        Assignment.objects.filter(rater=rater, pair_id=pair.pk, state=Assignment.State.VOTED)
        .select_related("pair__prompt", "pair__output_a", "pair__output_b")
        .first()
    )
    if assignment is None:
        return None
    count = prompt_turn_count(assignment.pair.prompt)
    if turn > count:
        return None
    assignment.study = study
    return PendingTurn(assignment=assignment, turn=turn, turn_count=count)
