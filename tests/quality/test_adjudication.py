"""Issue 20: pairs whose raters disagree go to the study's senior rater; the verdict is kept
apart from the votes and can become gold or the pair's label in the preference export."""

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evaluations.models import Pair, Study
from raters.adjudication import (
    AdjudicationRejected,
    adjudication_queue,
    adjudication_record,
    adjudications_to_gold,
    contested_pairs,
)
from raters.models import Adjudication, Membership, Vote
from tests.factories import UserFactory
from tests.raters.conftest import join, study_with_pairs

pytestmark = pytest.mark.django_db


def cast(pair: Pair, choices: str) -> None:
    """One vote per letter (a, b, t for tie, x for both bad), each by a new rater."""
    names = {"a": "a", "b": "b", "t": "tie", "x": "both_bad"}
    for letter in choices:
        Vote.objects.create(
            study=pair.study,
            pair=pair,
            rater=join(pair.study),
            choice=names[letter],
            left_output_id=pair.output_a_id,
        )


@pytest.fixture
def study() -> Study:
    return study_with_pairs(
        n_prompts=3, n_candidates=3, votes_per_pair=3, adjudication_threshold=0.7
    )


@pytest.fixture
def pairs(study) -> list[Pair]:
    return list(Pair.objects.filter(study=study).order_by("id"))


def senior_of(study: Study) -> Membership:
    rater = join(study)
    Membership.objects.filter(rater=rater, study=study).update(senior=True)
    return Membership.objects.select_related("study", "rater").get(rater=rater, study=study)


def test_split_complete_pairs_are_contested_most_contested_first(study, pairs):
    cast(pairs[0], "aab")  # 2 of 3 agree: below 0.7
    cast(pairs[1], "aaa")  # unanimous
    cast(pairs[2], "abt")  # 1 of 3
    cast(pairs[3], "ab")  # split, but one vote short of votes_per_pair
    Pair.objects.filter(pk=pairs[4].pk).update(gold_answer="a")
    cast(pairs[4], "abx")  # gold pairs are never adjudicated
    assert list(contested_pairs(study=study)) == [pairs[2], pairs[0]]
    Study.objects.filter(pk=study.pk).update(status=Study.Status.CLOSED)
    study.refresh_from_db()
    assert set(contested_pairs(study=study)) == {pairs[0], pairs[2], pairs[3]}


def test_no_threshold_no_queue(study, pairs):
    Study.objects.filter(pk=study.pk).update(adjudication_threshold=None)
    study.refresh_from_db()
    cast(pairs[0], "abt")
    assert not contested_pairs(study=study).exists()


def test_the_senior_records_a_verdict_apart_from_the_votes_once(study, pairs):
    cast(pairs[0], "aab")
    senior = senior_of(study)
    votes_before = Vote.objects.count()
    verdict = adjudication_record(
        membership=senior, public_id=pairs[0].public_id, side_choice="tie", rationale=" even "
    )
    assert (verdict.choice, verdict.rationale, verdict.rater_id) == ("tie", "even", senior.rater_id)
    assert Vote.objects.count() == votes_before
    assert not adjudication_queue(membership=senior).exists()
    with pytest.raises(AdjudicationRejected):
        adjudication_record(membership=senior, public_id=pairs[0].public_id, side_choice="A")


def test_a_pair_outside_the_queue_is_refused_like_one_that_does_not_exist(study, pairs):
    cast(pairs[0], "aaa")
    senior = senior_of(study)
    for public_id in (pairs[0].public_id, pairs[1].public_id, "AAAAAAAAAAAAAAAA"):
        with pytest.raises(Pair.DoesNotExist):
            adjudication_record(membership=senior, public_id=public_id, side_choice="A")
    other = study_with_pairs(n_prompts=1, n_candidates=2, votes_per_pair=2)
    Study.objects.filter(pk=other.pk).update(adjudication_threshold=0.9)
    foreign = Pair.objects.get(study=other)
    cast(foreign, "ab")
    with pytest.raises(Pair.DoesNotExist):
        adjudication_record(membership=senior, public_id=foreign.public_id, side_choice="A")
    assert not Adjudication.objects.exists()


def test_a_senior_is_not_given_a_pair_they_voted_on(study, pairs):
    cast(pairs[0], "ab")
    senior = senior_of(study)
    Vote.objects.create(
        study=study, pair=pairs[0], rater=senior.rater, choice="a", left_output=pairs[0].output_a
    )
    assert list(contested_pairs(study=study)) == [pairs[0]]
    assert not adjudication_queue(membership=senior).exists()


def test_a_verdict_is_recorded_for_the_side_the_senior_saw(study, pairs):
    cast(pairs[0], "aab")
    senior = senior_of(study)
    verdict = adjudication_record(membership=senior, public_id=pairs[0].public_id, side_choice="A")
    left_is_a = verdict.left_output_id == pairs[0].output_a_id
    assert verdict.choice == ("a" if left_is_a else "b")


def test_only_the_designated_senior_reaches_the_queue_page(client, study, pairs):
    cast(pairs[0], "aab")
    senior = senior_of(study)
    member = join(study)
    url = reverse("raters:adjudication", args=[study.pk])
    client.force_login(member.user)
    assert client.get(url).status_code == 404
    assert client.post(url, {"pair": pairs[0].public_id, "choice": "A"}).status_code == 404
    client.force_login(senior.rater.user)
    page = client.get(url)
    assert page.status_code == 200
    html = page.content.decode()
    assert pairs[0].public_id in html and "1 contested pair waiting" in html
    for candidate in study.candidates.all():  # blind: no model name or label
        assert candidate.label not in html and candidate.model not in html
    response = client.post(
        url,
        {"pair": pairs[0].public_id, "choice": "B", "time_spent_ms": "9000"},
        headers={"X-Requested-With": "fetch"},
    )
    assert response.status_code == 200
    assert "Verdict recorded." in response.content.decode()
    assert "No contested pair is waiting" in response.content.decode()
    assert Adjudication.objects.get().time_spent_ms == 9000
    assert not Adjudication.objects.filter(rater=member).exists()


def test_a_verdict_becomes_the_gold_answer_and_the_votes_gold_votes(study, pairs, settings):
    settings.RATER_MIN_SECONDS_PER_VOTE = 0
    cast(pairs[0], "aab")
    senior = senior_of(study)
    adjudication_record(
        membership=senior, public_id=pairs[0].public_id, side_choice="tie", rationale="Same."
    )
    assert adjudications_to_gold(Adjudication.objects.all()) == 1
    pair = Pair.objects.get(pk=pairs[0].pk)
    assert (pair.gold_answer, pair.gold_explanation) == ("tie", "Same.")


def test_the_admin_action_makes_gold_only_for_those_who_may_change_pairs(client, study, pairs):
    cast(pairs[0], "aab")
    adjudication_record(membership=senior_of(study), public_id=pairs[0].public_id, side_choice="A")
    viewer = UserFactory(is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_adjudication"))
    Study.objects.filter(pk=study.pk).update(owner=viewer)
    client.force_login(viewer)
    url = reverse("admin:raters_adjudication_changelist")
    data = {"action": "use_as_gold", "_selected_action": [Adjudication.objects.get().pk]}
    client.post(url, data)
    assert Pair.objects.get(pk=pairs[0].pk).gold_answer == ""
    viewer.user_permissions.add(Permission.objects.get(codename="change_pair"))
    client.post(url, data)
    assert Pair.objects.get(pk=pairs[0].pk).gold_answer in ("a", "b")


@pytest.fixture
def senior_client(study, pairs):
    from django.test import Client

    cast(pairs[0], "aab")
    client = Client()
    client.force_login(senior_of(study).rater.user)
    return client


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    pair=st.text(max_size=40),
    choice=st.one_of(st.sampled_from(["A", "B", "tie", "both_bad"]), st.text(max_size=10)),
    spent=st.one_of(st.integers(-(10**12), 10**12).map(str), st.text(max_size=12)),
    reason=st.text(max_size=50),
)
def test_any_verdict_form_is_answered_without_a_server_error(
    senior_client, study, pair, choice, spent, reason
):
    url = reverse("raters:adjudication", args=[study.pk])
    data = {"pair": pair, "choice": choice, "time_spent_ms": spent, "rationale": reason}
    response = senior_client.post(url, data, headers={"X-Requested-With": "fetch"})
    assert response.status_code in (200, 404)
    assert Adjudication.objects.count() <= 1
