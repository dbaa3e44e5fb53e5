"""Raters who vote faster than anyone can read two answers are flagged, with the evidence."""

from datetime import timedelta

import pytest
from django.urls import reverse

from raters.assignment import assignment_next
from raters.models import Membership
from raters.voting import vote_record
from tests.raters.conftest import join, study_with_pairs

pytestmark = pytest.mark.django_db


def vote_n(rater, study, n: int, seconds: float, choice: str = "AB") -> None:
    # Both sides in turn: always one side is straight-lining, flagged on its own.
    for i in range(n):
        assignment = assignment_next(rater=rater, study=study)
        vote_record(
            rater=rater,
            study=study,
            public_id=assignment.pair.public_id,
            side_choice=choice if choice == "tie" else choice[i % len(choice)],
            time_spent_ms=int(seconds * 1000),
            now=assignment.shown_at + timedelta(seconds=seconds),
        )


@pytest.fixture
def study():
    return study_with_pairs(n_prompts=8, n_candidates=3)


def membership(rater, study) -> Membership:
    return Membership.objects.get(rater=rater, study=study)


def test_a_rater_voting_in_a_third_of_a_second_is_flagged_with_the_evidence(study):
    rater = join(study)
    vote_n(rater, study, 12, 0.3)
    flagged = membership(rater, study)
    assert flagged.flagged
    assert "median 0.3 s per decisive vote" in flagged.flag_reason
    assert "latest 12 decisive votes" in flagged.flag_reason and "2.0 s" in flagged.flag_reason


def test_a_careful_rater_is_not_flagged_nor_is_anyone_on_few_votes(study):
    careful, hasty = join(study), join(study)
    vote_n(careful, study, 12, 8.0)
    vote_n(hasty, study, 5, 0.3)
    assert not membership(careful, study).flagged
    assert not membership(hasty, study).flagged


def test_ties_do_not_count_towards_the_speed_median(study):
    rater = join(study)
    vote_n(rater, study, 12, 0.3, choice="tie")
    assert not membership(rater, study).flagged


def test_the_threshold_is_a_setting(study, settings):
    settings.RATER_MIN_SECONDS_PER_VOTE = 10
    rater = join(study)
    vote_n(rater, study, 12, 5.0)
    assert membership(rater, study).flagged


def test_the_researcher_sees_the_flag_and_its_reason(client, staff_user, study):
    rater = join(study)
    vote_n(rater, study, 12, 0.3)
    client.force_login(staff_user)
    page = client.get(reverse("admin:raters_membership_changelist")).content.decode()
    assert "median 0.3 s per decisive vote" in page
