"""Issue 20: a rater is flagged for votes faster than the answers can be read (or the study's
own minimum) and for straight-lining (always the same side), with the evidence."""

from datetime import timedelta

import pytest
from django.urls import reverse

from evaluations.models import Output
from raters.assignment import assignment_next
from raters.models import Membership
from raters.voting import vote_record
from tests.raters.conftest import join, study_with_pairs

pytestmark = pytest.mark.django_db


def vote_n(rater, study, n: int, seconds: float, sides: str = "AB") -> None:
    """n decisive votes, each taking `seconds`, cycling through `sides` as the rater saw them."""
    for i in range(n):
        assignment = assignment_next(rater=rater, study=study)
        vote_record(
            rater=rater,
            study=study,
            public_id=assignment.pair.public_id,
            side_choice=sides[i % len(sides)],
            time_spent_ms=int(seconds * 1000),
            now=assignment.shown_at + timedelta(seconds=seconds),
        )


def long_answers(study, words: int) -> None:
    Output.objects.filter(prompt__study=study).update(text=" ".join(["word"] * words))


def membership(rater, study) -> Membership:
    return Membership.objects.get(rater=rater, study=study)


def test_votes_faster_than_the_answers_can_be_read_flag_the_rater():
    study = study_with_pairs(n_prompts=8, n_candidates=3)
    long_answers(study, 300)  # two answers of 300 words: 50 s at 12 words a second
    rater = join(study)
    vote_n(rater, study, 12, 10.0)
    flagged = membership(rater, study)
    assert flagged.flagged
    assert "12 of the latest 12 decisive votes" in flagged.flag_reason
    assert "50.0 s" in flagged.flag_reason


def test_short_answers_read_in_time_do_not_flag_the_rater():
    study = study_with_pairs(n_prompts=8, n_candidates=3)
    long_answers(study, 30)  # 60 words: 5 s
    rater = join(study)
    vote_n(rater, study, 12, 10.0)
    assert not membership(rater, study).flagged


def test_the_studys_own_minimum_replaces_the_reading_time():
    study = study_with_pairs(n_prompts=8, n_candidates=3, min_seconds_per_vote=5.0)
    long_answers(study, 300)
    reader, hasty = join(study), join(study)
    vote_n(reader, study, 12, 10.0)
    vote_n(hasty, study, 12, 3.0)
    assert not membership(reader, study).flagged
    assert membership(hasty, study).flagged
    assert "5.0 s" in membership(hasty, study).flag_reason


def test_always_the_same_side_flags_the_rater_by_a_binomial_test():
    study = study_with_pairs(n_prompts=8, n_candidates=3)
    rater = join(study)
    vote_n(rater, study, 14, 30.0, sides="A")
    flagged = membership(rater, study)
    assert flagged.flagged
    assert "straight-lining: 14 of 14 decisive votes for the left answer" in flagged.flag_reason
    assert "binomial p = 0.0001" in flagged.flag_reason


def test_balanced_sides_and_few_votes_do_not_flag():
    study = study_with_pairs(n_prompts=8, n_candidates=3)
    balanced, few = join(study), join(study)
    vote_n(balanced, study, 20, 30.0, sides="AABABBBA")
    vote_n(few, study, 9, 30.0, sides="B")
    assert not membership(balanced, study).flagged
    assert not membership(few, study).flagged


def test_a_straight_liner_who_changes_is_cleared_but_a_gold_reason_stays():
    study = study_with_pairs(n_prompts=12, n_candidates=3)
    rater = join(study)
    vote_n(rater, study, 12, 30.0, sides="B")
    assert membership(rater, study).flagged
    Membership.objects.filter(rater=rater, study=study).update(
        flag_reason=f"gold accuracy 0% of 3 (threshold 70%); {membership(rater, study).flag_reason}"
    )
    vote_n(rater, study, 12, 30.0, sides="A")
    after = membership(rater, study)
    assert after.flagged
    assert after.flag_reason == "gold accuracy 0% of 3 (threshold 70%)"


def test_the_researcher_sees_flagged_raters_with_the_evidence_on_the_results_page(
    client, staff_user
):
    study = study_with_pairs(n_prompts=8, n_candidates=3, owner=staff_user)
    rater = join(study)
    vote_n(rater, study, 12, 30.0, sides="A")
    client.force_login(staff_user)
    page = client.get(reverse("admin:evaluations_study_results", args=[study.pk])).content
    page = page.decode()
    assert 'id="flagged-raters"' in page
    assert rater.display_name in page
    assert "straight-lining: 12 of 12 decisive votes for the left answer" in page
