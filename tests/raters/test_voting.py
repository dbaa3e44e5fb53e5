from datetime import timedelta

import pytest
from django.utils import timezone

from evaluations.models import Pair
from raters.assignment import assignment_next
from raters.gold import GOLD_MIN_VOTES, rater_gold_accuracy
from raters.models import Assignment, Membership, Vote
from raters.voting import UNDO_WINDOW, VoteRejected, side_choice_of, vote_record, vote_undo
from tests.raters.conftest import join, study_with_pairs


def record(rater, study, assignment, choice="A", **kwargs):
    return vote_record(
        rater=rater, study=study, public_id=assignment.pair.public_id, side_choice=choice, **kwargs
    )


@pytest.mark.django_db
def test_a_repeated_vote_returns_the_first_one_and_stores_one(open_study, rater):
    assignment = assignment_next(rater=rater, study=open_study)
    first = record(rater, open_study, assignment, "A")
    again = record(rater, open_study, assignment, "B")
    assert first.created and not again.created
    assert again.vote.pk == first.vote.pk
    assert Vote.objects.filter(rater=rater).count() == 1


@pytest.mark.django_db
def test_choosing_a_side_is_stored_in_the_pairs_canonical_order(open_study, rater):
    assignment = assignment_next(rater=rater, study=open_study)
    vote = record(rater, open_study, assignment, "A").vote
    left_is_a = assignment.left_output_id == assignment.pair.output_a_id
    assert vote.choice == (Vote.Choice.A if left_is_a else Vote.Choice.B)
    assert vote.left_output_id == assignment.left_output_id
    assert side_choice_of(vote) == "A"


@pytest.mark.django_db
def test_a_pair_not_assigned_to_the_rater_cannot_be_voted_on(open_study, rater):
    pair = open_study.pairs.first()
    with pytest.raises(Assignment.DoesNotExist):
        vote_record(rater=rater, study=open_study, public_id=pair.public_id, side_choice="A")
    assert not Vote.objects.exists()


@pytest.mark.django_db
def test_choices_the_study_does_not_offer_are_refused(rater, open_study):
    open_study.allow_tie = False
    open_study.save()
    assignment = assignment_next(rater=rater, study=open_study)
    with pytest.raises(VoteRejected):
        record(rater, open_study, assignment, "tie")
    assert not Vote.objects.exists()


@pytest.mark.django_db
def test_time_on_pair_falls_back_to_the_servers_clock_when_the_client_overstates_it(
    open_study, rater
):
    assignment = assignment_next(rater=rater, study=open_study)
    later = assignment.shown_at + timedelta(seconds=12)
    vote = record(rater, open_study, assignment, time_spent_ms=10**7, now=later).vote
    assert vote.time_spent_ms == 12_000


@pytest.mark.django_db
def test_undo_takes_back_the_last_vote_and_offers_the_same_pair_with_the_same_sides(
    open_study, rater
):
    assignment = assignment_next(rater=rater, study=open_study)
    record(rater, open_study, assignment)
    assignment_next(rater=rater, study=open_study)  # the following pair is reserved meanwhile
    back = vote_undo(rater=rater, study=open_study)
    assert back.pair_id == assignment.pair_id
    assert back.left_output_id == assignment.left_output_id
    assert not Vote.objects.filter(rater=rater).exists()
    assert assignment_next(rater=rater, study=open_study).pair_id == assignment.pair_id


@pytest.mark.django_db
def test_undo_is_refused_once_the_window_has_passed(open_study, rater):
    assignment = assignment_next(rater=rater, study=open_study)
    record(rater, open_study, assignment)
    with pytest.raises(VoteRejected):
        vote_undo(rater=rater, study=open_study, now=timezone.now() + UNDO_WINDOW * 2)
    assert Vote.objects.filter(rater=rater).count() == 1


@pytest.mark.django_db
def test_a_rater_below_the_gold_threshold_is_flagged_and_recovers(settings):
    settings.RATER_MIN_SECONDS_PER_VOTE = 0  # these votes are instant: only gold is tested here
    settings.RATER_MAX_WORDS_PER_SECOND = 0  # (no reading-time threshold either)
    study = study_with_pairs(n_prompts=10, n_candidates=2, gold_rate=1.0, gold_min_accuracy=0.7)
    rater = join(study)
    for pair in Pair.objects.filter(study=study):
        pair.gold_answer = Pair.Answer.A
        pair.save()

    def vote_gold(correct: bool) -> None:
        assignment = assignment_next(rater=rater, study=study)
        left_is_a = assignment.left_output_id == assignment.pair.output_a_id
        side = "A" if left_is_a == correct else "B"
        record(rater, study, assignment, side)

    for _ in range(GOLD_MIN_VOTES):
        vote_gold(correct=False)
    assert rater_gold_accuracy(rater=rater, study=study).accuracy == 0.0
    assert Membership.objects.get(rater=rater, study=study).flagged
    for _ in range(7):
        vote_gold(correct=True)
    accuracy = rater_gold_accuracy(rater=rater, study=study)
    assert (accuracy.correct, accuracy.total) == (7, 10)
    assert not Membership.objects.get(rater=rater, study=study).flagged
