"""A researcher discarding votes: the pair's place goes back to the pool, the rater moves on."""

import pytest
from django.urls import reverse

from evaluations.models import Pair
from raters.assignment import assignment_next
from raters.models import Assignment, Vote
from raters.progress import rater_progress
from raters.voting import vote_record, votes_delete
from tests.factories import UserFactory
from tests.raters.conftest import join, study_with_pairs


def vote(rater, study, choice="A"):
    assignment = assignment_next(rater=rater, study=study)
    return vote_record(
        rater=rater, study=study, public_id=assignment.pair.public_id, side_choice=choice
    ).vote


@pytest.mark.django_db
def test_a_discarded_vote_frees_its_place_for_another_rater_but_not_for_its_rater():
    study = study_with_pairs(n_prompts=1, n_candidates=2, votes_per_pair=1)
    careless, other = join(study), join(study)
    discarded = vote(careless, study)
    pair = Pair.objects.get(pk=discarded.pair_id)
    assert pair.load == 1
    assert assignment_next(rater=other, study=study) is None  # the only pair is full

    assert votes_delete(Vote.objects.filter(pk=discarded.pk)) == 1

    pair.refresh_from_db()
    assert pair.load == 0
    assert not Vote.objects.exists()
    mine = Assignment.objects.get(rater=careless, pair=pair)
    assert mine.state == Assignment.State.SKIPPED
    assert assignment_next(rater=careless, study=study) is None
    assert rater_progress(rater=careless, study=study).available == 0
    assert assignment_next(rater=other, study=study).pair == pair


@pytest.mark.django_db
def test_deleting_from_the_admin_discards_through_the_same_path_and_votes_are_read_only(client):
    study = study_with_pairs(n_prompts=2, n_candidates=2, votes_per_pair=1)
    votes = [vote(join(study), study), vote(join(study), study)]
    client.force_login(UserFactory(is_staff=True, is_superuser=True))

    assert client.get(reverse("admin:raters_vote_add")).status_code == 403
    change = client.get(reverse("admin:raters_vote_change", args=[votes[0].pk]))
    assert change.status_code == 200 and b'name="_save"' not in change.content

    response = client.post(
        reverse("admin:raters_vote_changelist"),
        {"action": "delete_selected", "_selected_action": [v.pk for v in votes], "post": "yes"},
    )
    assert response.status_code == 302
    assert not Vote.objects.exists()
    assert set(Pair.objects.values_list("load", flat=True)) == {0}
    assert set(Assignment.objects.values_list("state", flat=True)) == {Assignment.State.SKIPPED}
