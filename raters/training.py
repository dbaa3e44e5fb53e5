"""The training round: a new rater's first pairs are gold pairs, each answered with feedback.

After the study's training_pairs answers (or every gold pair, if there are fewer), a rater at or
above the study's gold accuracy bar votes for real; below it they are screened out (a panel
participant leaves with the screen-out code). Training answers are TrainingAnswer rows, never
Vote rows, so no result, export or agreement figure can count them.
"""

from dataclasses import dataclass

from django.db import IntegrityError, transaction

from evaluations.models import Pair
from raters.models import Membership, PanelParticipant, TrainingAnswer, Vote
from raters.panels import participant_screen_out
from raters.training_state import gold_pairs, training_size


@dataclass(frozen=True)
class TrainingPair:
    pair: Pair
    left_output_id: int
    number: int  # 1-based position in the round
    total: int


@dataclass(frozen=True)
class TrainingFeedback:
    correct: bool
    right_side: str  # "A", "B", "tie" or "both_bad", as the rater saw the pair
    explanation: str
    finished: bool
    passed: bool | None  # once finished


def _left_output_id(membership: Membership, pair: Pair) -> int:
    # Which side the right answer is on varies between pairs and raters, without storing it.
    return pair.output_a_id if (membership.pk + pair.pk) % 2 == 0 else pair.output_b_id


def training_pair_next(membership: Membership) -> TrainingPair | None:
    total = training_size(membership.study)
    answered = TrainingAnswer.objects.filter(membership=membership)
    done = answered.count()
    if done >= total:
        return None
    pair = (
        gold_pairs(membership.study)
        .exclude(pk__in=answered.values("pair_id"))
        .select_related("prompt", "output_a", "output_b")
        .first()
    )
    if pair is None:
        return None
    return TrainingPair(pair, _left_output_id(membership, pair), done + 1, total)


def _side_of(canonical: str, *, pair: Pair, left_output_id: int) -> str:
    if canonical in (Vote.Choice.TIE, Vote.Choice.BOTH_BAD):
        return str(canonical)
    left_is_a = left_output_id == pair.output_a_id
    return "A" if (canonical == Vote.Choice.A) == left_is_a else "B"


def _canonical_of(side_choice: str, *, pair: Pair, left_output_id: int) -> str:
    if side_choice in ("tie", "both_bad"):
        return side_choice
    left_is_a = left_output_id == pair.output_a_id
    return Vote.Choice.A if (side_choice == "A") == left_is_a else Vote.Choice.B


def training_answer_record(
    *, membership: Membership, public_id: str, side_choice: str
) -> TrainingFeedback:
    """Record a training answer and say whether it was right; Pair.DoesNotExist if the pair
    is not the rater's current training pair."""
    current = training_pair_next(membership)
    if current is None or current.pair.public_id != public_id:
        raise Pair.DoesNotExist
    pair, left = current.pair, current.left_output_id
    choice = _canonical_of(side_choice, pair=pair, left_output_id=left)
    correct = choice == pair.gold_answer
    try:
        with transaction.atomic():
            TrainingAnswer.objects.create(
                membership=membership, pair=pair, choice=choice, correct=correct
            )
    except IntegrityError as error:  # a double click: the first answer stands
        raise Pair.DoesNotExist from error
    finished = current.number >= current.total
    passed = training_finish(membership) if finished else None
    return TrainingFeedback(
        correct=correct,
        right_side=_side_of(pair.gold_answer, pair=pair, left_output_id=left),
        explanation=pair.gold_explanation,
        finished=finished,
        passed=passed,
    )


def training_accuracy(membership: Membership) -> float:
    answers = list(TrainingAnswer.objects.filter(membership=membership).values_list("correct"))
    return sum(c for (c,) in answers) / len(answers) if answers else 0.0


def training_finish(membership: Membership) -> bool:
    """Pass or screen out the rater on their training answers; returns whether they passed."""
    passed = training_accuracy(membership) >= membership.study.gold_min_accuracy
    membership.training = Membership.Training.NONE if passed else Membership.Training.FAILED
    Membership.objects.filter(pk=membership.pk).update(training=membership.training)
    if not passed:
        participant = PanelParticipant.objects.filter(
            rater_id=membership.rater_id, panel__study_id=membership.study_id
        ).first()
        if participant is not None:
            participant_screen_out(participant=participant)
    return passed
