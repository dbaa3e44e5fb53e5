import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from rest_framework.test import APIClient

from evaluations.models import JudgeVote
from tests.factories import (
    CandidateFactory,
    JudgeFactory,
    JudgeVoteFactory,
    OutputFactory,
    PromptFactory,
    RaterFactory,
    StudyFactory,
    UserFactory,
    VoteFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(staff_user) -> APIClient:
    client = APIClient()
    client.force_authenticate(staff_user)
    return client


@pytest.fixture
def judged(judged_study):
    judge = JudgeFactory(study=judged_study, model="openai/judge")
    rater = RaterFactory()
    for pair in judged_study.pairs.all():
        strong_is_a = pair.output_a.candidate.label == "strong"
        winner = "a" if strong_is_a else "b"
        for order in ("ab", "ba"):
            JudgeVoteFactory(judge=judge, pair=pair, order=order, verdict=winner)
        VoteFactory(pair=pair, rater=rater, choice=winner)
    return judged_study


def test_the_judges_endpoint_reports_each_judge_beside_the_humans(api, judged):
    response = api.get(f"/api/v1/studies/{judged.pk}/judges/")
    assert response.status_code == 200
    body = response.json()
    assert body["human_votes_only_in_ranking"] is True
    (block,) = body["judges"]
    assert block["model"] == "openai/judge"
    assert block["agreement_with_humans"]["percent_agreement"]["with_ties"] == 1.0
    assert block["position_consistency"]["share"] == 1.0
    assert [row["model"] for row in block["ranking"]["models"]] == ["strong", "weak"]


def test_raters_and_strangers_cannot_read_judge_results(judged):
    assert APIClient().get(f"/api/v1/studies/{judged.pk}/judges/").status_code == 401
    rater_client = APIClient()
    rater_client.force_authenticate(RaterFactory().user)
    assert rater_client.get(f"/api/v1/studies/{judged.pk}/judges/").status_code == 403
    other = UserFactory(is_staff=True)
    other.user_permissions.add(Permission.objects.get(codename="view_study"))
    stranger = APIClient()
    stranger.force_authenticate(other)
    assert stranger.get(f"/api/v1/studies/{judged.pk}/judges/").status_code == 404
    assert stranger.get(f"/api/v1/studies/{judged.pk}/drift/").status_code == 404


def test_the_drift_endpoint_flags_outputs_served_by_another_model(api, study):
    candidate = CandidateFactory(study=study, label="pinned", version="m-2024")
    OutputFactory(
        prompt=PromptFactory(study=study),
        candidate=candidate,
        served_model="m-2025",
        version_mismatch=True,
    )
    (row,) = api.get(f"/api/v1/studies/{study.pk}/drift/").json()
    assert row["drift"] is True and row["served_models"] == {"m-2025": 1}


def test_comparing_studies_without_shared_prompts_is_a_bad_request(api, judged, staff_user):
    other = StudyFactory(owner=staff_user)
    PromptFactory(study=other, external_id="unrelated")
    response = api.get(f"/api/v1/studies/{judged.pk}/compare/{other.pk}/")
    assert response.status_code == 400
    assert "share no prompt" in response.json()["detail"]


def test_the_results_page_shows_the_judge_section(client, staff_user, judged):
    client.force_login(staff_user)
    response = client.get(reverse("admin:evaluations_study_results", args=[judged.pk]))
    assert response.status_code == 200
    page = response.content.decode()
    assert "LLM judges" in page and "openai/judge" in page
    assert "the two orders agree on 3 of 3 pairs" in page


def test_the_run_judges_action_queues_every_pair_in_both_orders(
    client, staff_user, judged_study, django_capture_on_commit_callbacks
):
    JudgeFactory(study=judged_study, model="openai/judge")
    client.force_login(staff_user)
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(
            reverse("admin:evaluations_study_changelist"),
            {"action": "run_judges", "_selected_action": [judged_study.pk]},
            follow=True,
        )
    assert "queued 6 judge calls" in response.content.decode()
    assert JudgeVote.objects.filter(study=judged_study, status="pending").count() == 6
    assert len(callbacks) == 1
    change = client.get(reverse("admin:evaluations_study_change", args=[judged_study.pk]))
    assert change.status_code == 200
    assert "judge_prompt_template" in change.content.decode()


def test_the_candidate_list_shows_drift(client, staff_user, study):
    candidate = CandidateFactory(study=study, label="pinned", version="m-2024")
    OutputFactory(prompt=PromptFactory(study=study), candidate=candidate, version_mismatch=True)
    client.force_login(staff_user)
    page = client.get(reverse("admin:evaluations_candidate_changelist")).content.decode()
    assert "1 of 1 outputs served by another model than m-2024" in page
