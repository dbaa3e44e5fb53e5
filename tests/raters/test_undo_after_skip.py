"""Undo takes back the rater's last action: after a Skip, the skip (the pair comes back)."""

import pytest
from django.urls import reverse

from evaluations.models import Pair
from raters.assignment import assignment_next, assignment_skip
from raters.models import Assignment, Vote
from raters.voting import action_undo, vote_record, vote_undo_possible, votes_delete
from tests.raters.test_views import signed_in

pytestmark = pytest.mark.django_db


def vote(rater, study, assignment, choice="A"):
    return vote_record(
        rater=rater, study=study, public_id=assignment.pair.public_id, side_choice=choice
    )


def skip(rater, study, assignment):
    assert assignment_skip(rater=rater, study=study, public_id=assignment.pair.public_id)


def test_undo_after_a_skip_brings_the_skipped_pair_back_and_keeps_the_vote(open_study, rater):
    voted = assignment_next(rater=rater, study=open_study)
    vote(rater, open_study, voted)
    skipped = assignment_next(rater=rater, study=open_study)
    load_before_skip = Pair.objects.get(pk=skipped.pair_id).load
    skip(rater, open_study, skipped)
    assignment_next(rater=rater, study=open_study)  # the following pair is reserved meanwhile

    back = action_undo(rater=rater, study=open_study).assignment

    assert back.pair_id == skipped.pair_id
    assert back.left_output_id == skipped.left_output_id
    assert back.state == Assignment.State.RESERVED
    assert Vote.objects.filter(rater=rater, pair_id=voted.pair_id).exists()
    assert Pair.objects.get(pk=skipped.pair_id).load == load_before_skip
    assert assignment_next(rater=rater, study=open_study).pair_id == skipped.pair_id


def test_undo_after_skip_then_vote_takes_back_the_vote(open_study, rater):
    skipped = assignment_next(rater=rater, study=open_study)
    skip(rater, open_study, skipped)
    voted = assignment_next(rater=rater, study=open_study)
    vote(rater, open_study, voted)
    back = action_undo(rater=rater, study=open_study).assignment
    assert back.pair_id == voted.pair_id
    assert not Vote.objects.filter(rater=rater).exists()
    assert Assignment.objects.get(pk=skipped.pk).state == Assignment.State.SKIPPED


def test_a_skip_alone_can_be_undone(open_study, rater):
    skipped = assignment_next(rater=rater, study=open_study)
    skip(rater, open_study, skipped)
    assert vote_undo_possible(rater=rater, study=open_study)
    assert action_undo(rater=rater, study=open_study).assignment.pair_id == skipped.pair_id


def test_a_vote_the_researcher_discarded_is_not_brought_back_by_undo(open_study, rater):
    voted = assignment_next(rater=rater, study=open_study)
    vote(rater, open_study, voted)
    votes_delete(Vote.objects.filter(rater=rater))
    assert not vote_undo_possible(rater=rater, study=open_study)


def test_the_undo_button_after_a_skip_shows_the_skipped_pair_again(client, open_study, rater):
    signed_in(client, rater)
    fetch = {"HTTP_X_REQUESTED_WITH": "fetch"}
    voted = assignment_next(rater=rater, study=open_study)
    client.post(
        reverse("raters:vote", args=[open_study.pk]),
        {"pair": voted.pair.public_id, "choice": "A"},
        **fetch,
    )
    skipped = assignment_next(rater=rater, study=open_study)
    response = client.post(
        reverse("raters:skip", args=[open_study.pk]), {"pair": skipped.pair.public_id}, **fetch
    )
    assert "Undo" in response.content.decode()
    response = client.post(reverse("raters:undo", args=[open_study.pk]), **fetch)
    page = response.content.decode()
    assert response.context["pair_id"] == skipped.pair.public_id
    assert "skip was taken back" in page
    assert Vote.objects.filter(rater=rater, pair_id=voted.pair_id).exists()
