"""Issue 20, qualification: the training round on gold pairs, with feedback, and screening out."""

import pytest
from django.contrib.auth.models import Permission
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from evaluations.models import Pair
from raters.gold import rater_gold_accuracy
from raters.invites import invite_create, invite_path
from raters.models import Membership, Panel, PanelParticipant, TrainingAnswer, Vote
from tests.raters.conftest import study_with_pairs

EXPLANATION = "Response with the **refund steps** answers the question; the other is vague."


@pytest.fixture(autouse=True)
def fresh_cache():
    cache.clear()


def training_study(*, training_pairs=2, bar=1.0):
    study = study_with_pairs(
        n_prompts=5, n_candidates=3, training_pairs=training_pairs, gold_min_accuracy=bar
    )
    for pair, answer in zip(
        Pair.objects.filter(study=study).order_by("id")[:3], "aba", strict=True
    ):
        pair.gold_answer = answer
        pair.gold_explanation = EXPLANATION
        pair.save()
    return study


def invited_client(study) -> Client:
    client = Client()
    invite = invite_create(study=study, max_uses=None)
    client.post(
        invite_path(invite),
        {"display_name": "New", "username": f"new{study.pk}", "password1": "a long passphrase 1",
         "password2": "a long passphrase 1"},
    )  # fmt: skip
    return client


def right_and_wrong(page) -> tuple[str, str]:
    """The side letters of the right and a wrong answer, as this rater sees the pair."""
    current = page.context["current"]
    pair = current.pair
    left_is_a = current.left_output_id == pair.output_a_id
    right = "A" if (pair.gold_answer == "a") == left_is_a else "B"
    return right, "B" if right == "A" else "A"


def answer(client, study, *, correctly: bool):
    url = reverse("raters:training", args=[study.pk])
    page = client.get(url)
    right, wrong = right_and_wrong(page)
    response = client.post(
        url, {"pair": page.context["pair_id"], "choice": right if correctly else wrong}
    )
    return response, right


@pytest.mark.django_db
def test_a_new_rater_trains_on_gold_pairs_with_feedback_before_voting_for_real():
    study = training_study(training_pairs=2, bar=0.5)
    client = invited_client(study)
    response = client.get(reverse("raters:study", args=[study.pk]))
    assert response["Location"] == reverse("raters:training", args=[study.pk])
    page = client.get(response["Location"])
    assert page.context["current"].pair.gold_answer and b"Practice pair 1 of 2" in page.content

    feedback, right = answer(client, study, correctly=False)
    assert b"Not quite" in feedback.content
    assert f"The expected answer was <strong>{right}</strong>".encode() in feedback.content
    assert b"<strong>refund steps</strong>" in feedback.content, "the researcher's explanation"
    feedback, _ = answer(client, study, correctly=True)
    assert b"Right!" in feedback.content and b"Start voting" in feedback.content

    membership = Membership.objects.get(study=study, rater__display_name="New")
    assert membership.training == Membership.Training.NONE
    page = client.get(reverse("raters:study", args=[study.pk]))
    assert page.status_code == 200 and page.context["assignment"] is not None


@pytest.mark.django_db
def test_training_votes_never_count_in_votes_results_or_gold_accuracy():
    study = training_study(training_pairs=2, bar=0.5)
    study.owner.user_permissions.add(Permission.objects.get(codename="view_study"))
    api = APIClient()
    api.force_authenticate(study.owner)
    client = invited_client(study)
    answer(client, study, correctly=True)
    answer(client, study, correctly=True)
    assert TrainingAnswer.objects.count() == 2 and not Vote.objects.exists()
    votes = api.get(f"/api/v1/studies/{study.pk}/votes/?include_gold=true")
    assert votes.status_code == 200 and votes.json()["count"] == 0
    ranking = api.get(f"/api/v1/studies/{study.pk}/ranking/")
    assert ranking.status_code == 200
    assert ranking.json()["summary"]["votes"] == 0 and ranking.json()["summary"]["gold_votes"] == 0
    accuracy = rater_gold_accuracy(rater=Membership.objects.get(study=study).rater, study=study)
    assert accuracy.total == 0


@pytest.mark.django_db
def test_a_rater_below_the_bar_is_screened_out_before_any_real_vote():
    study = training_study(training_pairs=2, bar=1.0)
    client = invited_client(study)
    answer(client, study, correctly=True)
    response, _ = answer(client, study, correctly=False)
    assert b"did not reach the accuracy" in response.content
    assert Membership.objects.get(rater__display_name="New").training == "failed"
    assert client.get(reverse("raters:study", args=[study.pk]))["Location"].endswith("/training/")
    some_pair = Pair.objects.filter(study=study, gold_answer="").first()
    vote = client.post(
        reverse("raters:vote", args=[study.pk]), {"pair": some_pair.public_id, "choice": "A"}
    )
    assert vote.status_code == 404 and not Vote.objects.exists()


@pytest.mark.django_db
def test_a_screened_out_prolific_participant_leaves_with_the_screen_out_code():
    study = training_study(training_pairs=2, bar=1.0)
    panel = Panel.objects.create(
        study=study, completion_url="https://app.prolific.com/submissions/complete",
        completion_code="DONE1234", screenout_code="SCREEN99",
    )  # fmt: skip
    client = Client()
    ids = {"PROLIFIC_PID": "a" * 24, "STUDY_ID": "b" * 24, "SESSION_ID": "c" * 24}
    client.post(reverse("raters:panel_enter", args=[panel.key]), ids)
    answer(client, study, correctly=False)
    response, _ = answer(client, study, correctly=False)
    assert response["Location"] == reverse("raters:panel_finish", args=[panel.key])
    finish = client.post(response["Location"])
    assert finish["Location"] == "https://app.prolific.com/submissions/complete?cc=SCREEN99"
    assert PanelParticipant.objects.get().state == PanelParticipant.State.SCREENED_OUT


@pytest.mark.django_db
def test_only_the_current_training_pair_can_be_answered_and_only_once():
    study = training_study(training_pairs=2, bar=0.5)
    client = invited_client(study)
    url = reverse("raters:training", args=[study.pk])
    page = client.get(url)
    other_gold = Pair.objects.filter(study=study).exclude(gold_answer="").exclude(
        public_id=page.context["pair_id"]).first()  # fmt: skip
    assert client.post(url, {"pair": other_gold.public_id, "choice": "A"}).status_code == 302
    assert not TrainingAnswer.objects.exists()
    client.post(url, {"pair": page.context["pair_id"], "choice": "A"})
    client.post(url, {"pair": page.context["pair_id"], "choice": "B"})  # a repeat
    assert TrainingAnswer.objects.count() == 1


@pytest.mark.django_db
def test_a_study_without_training_or_without_gold_pairs_has_no_training_round():
    study = study_with_pairs(n_prompts=2, n_candidates=2, training_pairs=3)  # no gold pairs
    client = invited_client(study)
    assert client.get(reverse("raters:study", args=[study.pk])).status_code == 200
