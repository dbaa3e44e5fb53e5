"""Issue 20, richer judgments: several criteria per pair and the strength of a preference,
answered in one submission and stored like the vote (relative to the pair's canonical order)."""

import pytest
from django.core.cache import cache
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from raters.assignment import assignment_next
from raters.models import Assignment, CriterionVote, Vote
from raters.voting import VoteRejected, vote_record, vote_undo
from tests.raters.conftest import join, study_with_pairs
from tests.raters.test_capacity import MAX_QUERIES_VOTE_AND_NEXT_PAIR

CRITERIA = [
    {"key": "accuracy", "question": "Which is more accurate?", "both_bad": False},
    {"key": "helpfulness", "question": "Which is more helpful?", "both_bad": False},
    {"key": "safety", "question": "Which is safer?", "both_bad": True},
]


def criteria_study(**fields):
    fields.setdefault("criteria", CRITERIA)
    fields.setdefault("ask_strength", True)
    return study_with_pairs(n_prompts=6, n_candidates=3, **fields)


def post(client, study, public_id, **answers):
    return client.post(
        reverse("raters:vote", args=[study.pk]),
        {"pair": public_id, "time_spent_ms": "4000", **answers},
        headers={"X-Requested-With": "fetch"},
    )


def canonical(side: str, assignment: Assignment) -> str:
    if side in {"tie", "both_bad"}:
        return side
    left_is_a = assignment.left_output_id == assignment.pair.output_a_id
    return "a" if (side == "A") == left_is_a else "b"


@pytest.mark.django_db
def test_three_criteria_with_strength_are_stored_with_the_vote_oriented_to_the_pair(client):
    study = criteria_study()
    rater = join(study)
    client.force_login(rater.user)
    for _ in range(4):  # both sides of the canonical order come up
        assignment = assignment_next(rater=rater, study=study)
        response = post(
            client,
            study,
            assignment.pair.public_id,
            choice="A2",
            criterion_accuracy="B1",
            criterion_helpfulness="tie",
            criterion_safety="both_bad",
        )
        assert b"Vote recorded." in response.content
        vote = Vote.objects.get(rater=rater, pair=assignment.pair)
        assert (vote.choice, vote.strength) == (canonical("A", assignment), 2)
        stored = {c.criterion: (c.choice, c.strength) for c in vote.criterion_votes.all()}
        assert stored == {
            "accuracy": (canonical("B", assignment), 1),
            "helpfulness": ("tie", None),
            "safety": ("both_bad", None),
        }


@pytest.mark.django_db
def test_the_general_path_stores_criteria_like_the_one_statement_path():
    study = criteria_study()
    rater = join(study)
    assignment = assignment_next(rater=rater, study=study)
    # An expired reservation is not taken by the one-statement path: the ORM path records it.
    Assignment.objects.filter(pk=assignment.pk).update(state=Assignment.State.EXPIRED)
    from raters.judgments import Answer

    outcome = vote_record(
        rater=rater,
        study=study,
        public_id=assignment.pair.public_id,
        side_choice="B",
        strength=1,
        criteria={
            "accuracy": Answer("A", 2),
            "helpfulness": Answer("B", 1),
            "safety": Answer("tie"),
        },
    )
    assert outcome.created
    vote = Vote.objects.get(pk=outcome.vote.pk)
    assert (vote.choice, vote.strength) == (canonical("B", assignment), 1)
    stored = {c.criterion: (c.choice, c.strength) for c in vote.criterion_votes.all()}
    assert stored == {
        "accuracy": (canonical("A", assignment), 2),
        "helpfulness": (canonical("B", assignment), 1),
        "safety": ("tie", None),
    }


@pytest.mark.django_db
@pytest.mark.parametrize(
    "answers",
    [
        {"choice": "A2", "criterion_accuracy": "B1", "criterion_helpfulness": "tie"},  # one missing
        {"choice": "A", **{f"criterion_{c['key']}": "tie" for c in CRITERIA}},  # no strength
        {
            "choice": "A1",
            "criterion_accuracy": "both_bad",  # not offered on this criterion
            "criterion_helpfulness": "tie",
            "criterion_safety": "tie",
        },
        {"choice": "A1", **{f"criterion_{c['key']}": "A3" for c in CRITERIA}},
    ],
)
def test_an_incomplete_or_unoffered_submission_is_refused_and_writes_nothing(client, answers):
    study = criteria_study()
    rater = join(study)
    client.force_login(rater.user)
    assignment = assignment_next(rater=rater, study=study)
    response = post(client, study, assignment.pair.public_id, **answers)
    assert response.status_code == 200
    assert b"Vote recorded." not in response.content
    assert not Vote.objects.exists() and not CriterionVote.objects.exists()
    assignment.refresh_from_db()
    assert assignment.state == Assignment.State.RESERVED


@pytest.mark.django_db
def test_a_study_without_criteria_or_strength_votes_as_before(client):
    study = study_with_pairs(n_prompts=2, n_candidates=2)
    rater = join(study)
    client.force_login(rater.user)
    assignment = assignment_next(rater=rater, study=study)
    assert b"Vote recorded." in post(client, study, assignment.pair.public_id, choice="B").content
    vote = Vote.objects.get()
    assert vote.strength is None and not vote.criterion_votes.exists()
    with pytest.raises(VoteRejected):  # strength is refused where it is not asked
        other = join(study)
        vote_record(
            rater=other,
            study=study,
            public_id=assignment_next(rater=other, study=study).pair.public_id,
            side_choice="A",
            strength=2,
        )


@pytest.mark.django_db
def test_undo_takes_back_the_criteria_with_the_vote(client):
    study = criteria_study()
    rater = join(study)
    client.force_login(rater.user)
    assignment = assignment_next(rater=rater, study=study)
    post(
        client,
        study,
        assignment.pair.public_id,
        choice="tie",
        **{f"criterion_{c['key']}": "A1" for c in CRITERIA},
    )
    assert CriterionVote.objects.count() == 3
    vote_undo(rater=rater, study=study)
    assert not Vote.objects.exists() and not CriterionVote.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_vote_with_three_criteria_and_the_next_pair_stay_within_six_queries(
    client, django_assert_max_num_queries
):
    cache.clear()
    study = criteria_study()
    rater = join(study)
    client.force_login(rater.user)
    for choice in ("A2", "B1", "tie"):
        public_id = assignment_next(rater=rater, study=study).pair.public_id
        with django_assert_max_num_queries(MAX_QUERIES_VOTE_AND_NEXT_PAIR):
            response = post(
                client,
                study,
                public_id,
                choice=choice,
                **{f"criterion_{c['key']}": "B2" for c in CRITERIA},
            )
        assert b"Vote recorded." in response.content
        assert b'name="criterion_accuracy"' in response.content, "the next pair's rows"
    assert CriterionVote.objects.count() == 9


TOKENS = st.sampled_from(["A", "B", "tie", "both_bad", "A1", "A2", "B1", "B2", "C", "", "A3"])


@pytest.mark.django_db
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    choice=TOKENS,
    crit=st.dictionaries(
        st.sampled_from(["accuracy", "helpfulness", "safety", "other", "overall"]), TOKENS
    ),
)
def test_any_submission_is_recorded_whole_or_not_at_all_and_never_fails(client, choice, crit):
    study = criteria_study()
    rater = join(study)
    client.force_login(rater.user)
    assignment = assignment_next(rater=rater, study=study)
    data = {"choice": choice, **{f"criterion_{k}": v for k, v in crit.items()}}
    response = post(client, study, assignment.pair.public_id, **data)
    assert response.status_code == 200
    votes = list(Vote.objects.filter(rater=rater))
    if votes:
        assert votes[0].criterion_votes.count() == 3
    else:
        assert not CriterionVote.objects.filter(vote__rater=rater).exists()


@pytest.mark.django_db
def test_the_vote_admin_page_shows_the_strength_and_each_criterions_answer(client):
    from tests.factories import UserFactory

    study = criteria_study()
    rater = join(study)
    client.force_login(rater.user)
    assignment = assignment_next(rater=rater, study=study)
    post(
        client,
        study,
        assignment.pair.public_id,
        choice="tie",
        criterion_accuracy="A2",
        criterion_helpfulness="B1",
        criterion_safety="both_bad",
    )
    vote = Vote.objects.get()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    page = client.get(reverse("admin:raters_vote_change", args=[vote.pk])).content.decode()
    assert "accuracy: a (much better)" in page or "accuracy: b (much better)" in page
    assert "safety: both_bad" in page


@pytest.mark.django_db
def test_strength_without_criteria_is_one_row_of_five_keys_that_votes_at_once(client):
    study = study_with_pairs(n_prompts=2, n_candidates=2, ask_strength=True, allow_both_bad=False)
    rater = join(study)
    client.force_login(rater.user)
    page = client.get(reverse("raters:study", args=[study.pk])).content.decode()
    for key, label in (("1", "A much better"), ("3", "Tie"), ("5", "B much better")):
        assert f'data-key="{key}">{label}' in page
    assert "Both are bad" not in page and "data-row" not in page
    assignment = assignment_next(rater=rater, study=study)
    assert b"Vote recorded." in post(client, study, assignment.pair.public_id, choice="B1").content
    vote = Vote.objects.get()
    assert (vote.choice, vote.strength) == (canonical("B", assignment), 1)
